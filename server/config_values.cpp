#include "config_values.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace market::server {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string lower = Lower(text);
  if (lower == "on" || lower == "true" || lower == "yes" || lower == "1") return true;
  if (lower == "off" || lower == "false" || lower == "no" || lower == "0") return false;
  return std::nullopt;
}

std::optional<std::int64_t> ParseInteger(std::string_view text) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

std::optional<double> ParseNumber(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

namespace {

// The number and the multiplier its one-letter suffix names; nullopt for another suffix.
std::optional<std::int64_t> ParseScaled(std::string_view text, std::string_view suffixes,
                                        const std::int64_t* multipliers, std::int64_t limit) {
  if (text.empty()) return std::nullopt;
  std::int64_t multiplier = 1;
  char last = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
  if (std::size_t at = suffixes.find(last); at != std::string_view::npos) {
    multiplier = multipliers[at];
    text.remove_suffix(1);
  }
  std::optional<std::int64_t> number = ParseInteger(text);
  if (!number || *number < 0 || text.front() == '+' || *number > limit / multiplier) {
    return std::nullopt;
  }
  return *number * multiplier;
}

}  // namespace

std::optional<std::int64_t> ParseBytes(std::string_view text) {
  static constexpr std::int64_t kMultipliers[] = {1LL << 10, 1LL << 20, 1LL << 30};
  return ParseScaled(text, "kmg", kMultipliers, 1LL << 62);
}

std::string FormatBytes(std::int64_t bytes) {
  if (bytes == 0) return "0";
  if (bytes % (1LL << 30) == 0) return fmt::format("{}g", bytes >> 30);
  if (bytes % (1LL << 20) == 0) return fmt::format("{}m", bytes >> 20);
  if (bytes % (1LL << 10) == 0) return fmt::format("{}k", bytes >> 10);
  return std::to_string(bytes);
}

std::optional<std::int64_t> ParseDurationSeconds(std::string_view text) {
  static constexpr std::int64_t kMultipliers[] = {1, 60, 3600, 86400};
  return ParseScaled(text, "smhd", kMultipliers, 1LL << 40);
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find_first_of(", \t", start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace market::server
