#include "market/validation.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include <fmt/format.h>

namespace market {

namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Names the first character that can never appear, in the original's words.
std::optional<std::string> BadCharacter(std::string_view field, std::string_view text,
                                        bool (*allowed)(char)) {
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80) return fmt::format("{} contains a non-ASCII character", field);
    if (IsControl(c)) return fmt::format("{} contains a control character (0x{:02x})", field, c);
    if (c == ' ') return fmt::format("{} contains special char: ' ' (space)", field);
    if (!allowed(ch)) return fmt::format("{} contains special char: {}", field, ch);
  }
  return std::nullopt;
}

bool NameChar(char c) { return IsLowerAlnum(c) || c == '.' || c == '_' || c == '-'; }
bool OperatorChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '-' || c == '@' || c == '+';
}
bool TagChar(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }

Result<std::string> NormalizeComponent(std::string_view field, std::string_view name) {
  if (name.empty()) return Fail(Errc::kInvalid, fmt::format("{} is required", field));
  if (name.size() > kMaxNameLength) {
    return Fail(Errc::kInvalid,
                fmt::format("{} is longer than {} characters", field, kMaxNameLength));
  }
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (auto bad = BadCharacter(field, lower, NameChar)) return Fail(Errc::kInvalid, *bad);
  // [a-z0-9]+([._-][a-z0-9]+)*: separators only between alphanumerics, never doubled.
  bool well_formed = IsLowerAlnum(lower.back());
  for (std::size_t i = 0; well_formed && i < lower.size(); ++i) {
    const bool separator = !IsLowerAlnum(lower[i]);
    if (separator && (i == 0 || !IsLowerAlnum(lower[i - 1]))) well_formed = false;
  }
  if (!well_formed) {
    return Fail(Errc::kInvalid,
                fmt::format("{} must start and end with a letter or digit and not repeat "
                            "'.', '_' or '-' ([a-z0-9]+([._-][a-z0-9]+)*)",
                            field));
  }
  return lower;
}

Result<int> ParsePositive(std::string_view field, std::string_view text, int fallback,
                          int maximum) {
  if (text.empty()) return fallback;
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 1) {
    return Fail(Errc::kInvalid,
                fmt::format("{} must be a positive integer, got '{}'", field,
                            text.substr(0, 32)));
  }
  if (value > maximum) {
    return Fail(Errc::kInvalid, fmt::format("{} must be at most {}", field, maximum));
  }
  return value;
}

}  // namespace

Result<std::string> NormalizeProjectName(std::string_view field, std::string_view name) {
  return NormalizeComponent(field, name);
}

Result<std::string> NormalizeClusterName(std::string_view field, std::string_view name) {
  return NormalizeComponent(field, name);
}

Result<std::string> ValidateOperator(std::string_view field, std::string_view name) {
  if (name.empty()) return Fail(Errc::kInvalid, fmt::format("{} is required", field));
  if (name.size() > kMaxOperatorLength) {
    return Fail(Errc::kInvalid,
                fmt::format("{} is longer than {} characters", field, kMaxOperatorLength));
  }
  if (auto bad = BadCharacter(field, name, OperatorChar)) return Fail(Errc::kInvalid, *bad);
  return std::string(name);
}

Result<std::string> ValidateTag(std::string_view field, std::string_view tag) {
  if (tag.empty()) return Fail(Errc::kInvalid, fmt::format("{} is required", field));
  if (tag.size() > 128) {
    return Fail(Errc::kInvalid, fmt::format("{} is longer than 128 characters", field));
  }
  if (auto bad = BadCharacter(field, tag, TagChar)) return Fail(Errc::kInvalid, *bad);
  if (tag.front() == '.' || tag.front() == '-') {
    return Fail(Errc::kInvalid,
                fmt::format("{} must start with a letter, digit or '_'", field));
  }
  return std::string(tag);
}

Result<int> ParsePage(std::string_view field, std::string_view text) {
  return ParsePositive(field, text, 1, 1'000'000'000);
}

Result<int> ParsePageSize(std::string_view field, std::string_view text) {
  return ParsePositive(field, text, kDefaultPageSize, kMaxPageSize);
}

Result<std::int64_t> ParseBuildId(std::string_view field, std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 1) {
    return Fail(Errc::kInvalid, fmt::format("{} must be a positive integer, got '{}'", field,
                                            text.substr(0, 32)));
  }
  return value;
}

Result<std::string> ValidateNameFilter(std::string_view field, std::string_view text) {
  if (text.size() > kMaxFilterLength) {
    return Fail(Errc::kInvalid,
                fmt::format("{} is longer than {} characters", field, kMaxFilterLength));
  }
  for (char ch : text) {
    if (IsControl(static_cast<unsigned char>(ch))) {
      return Fail(Errc::kInvalid, fmt::format("{} contains a control character", field));
    }
  }
  return std::string(text);
}

Result<SaveMode> ParseSaveMode(std::string_view field, std::string_view text) {
  if (text.empty() || text == "update") return SaveMode::kUpdate;
  if (text == "add") return SaveMode::kAdd;
  return Fail(Errc::kInvalid,
              fmt::format("{} must be 'add' or 'update', got '{}'", field, text.substr(0, 32)));
}

Result<DockerfileType> ParseDockerfileTypeField(std::string_view field, std::string_view text,
                                                DockerfileType missing) {
  if (text.empty()) return missing;
  std::optional<DockerfileType> type = ParseDockerfileType(text);
  if (!type) {
    return Fail(Errc::kInvalid, fmt::format("{} must be tool, edit or download, got '{}'", field,
                                            text.substr(0, 32)));
  }
  return *type;
}

Result<std::string> ValidateObjectName(std::string_view field, std::string_view text) {
  constexpr std::size_t kMaxLength = 64;
  if (text.empty() || text.size() > kMaxLength) {
    return Fail(Errc::kInvalid, fmt::format("{} must be 1 to {} characters", field, kMaxLength));
  }
  const bool ok = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
  if (!ok) {
    return Fail(Errc::kInvalid,
                fmt::format("{} may hold letters, digits, '.', '_' and '-' only", field));
  }
  return std::string(text);
}

Result<std::string> ValidateSecret(std::string_view field, std::string_view text) {
  constexpr std::size_t kMaxLength = 256;
  const bool control = std::any_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (text.empty() || text.size() > kMaxLength || control) {
    return Fail(Errc::kInvalid,
                fmt::format("{} must be 1 to {} bytes without control characters", field,
                            kMaxLength));
  }
  return std::string(text);
}

bool IsFullCommitId(std::string_view text) {
  return (text.size() == 40 || text.size() == 64) &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

Result<bool> ParseFlag(std::string_view field, std::string_view text) {
  std::string lower(text.substr(0, 8));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  return Fail(Errc::kInvalid, fmt::format("{} must be true or false", field));
}

}  // namespace market
