#pragma once
// The value types of market-server's settings, parsed from the text of a flag, a variable or a
// file key, and printed back the way the documentation writes them.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace market::server {

std::string Lower(std::string_view text);

// true, false, yes, no, on, off, 1 or 0 in any case.
std::optional<bool> ParseBool(std::string_view text);
inline constexpr std::string_view kBoolWords = "true, false, yes, no, on, off, 1 or 0";

std::optional<std::int64_t> ParseInteger(std::string_view text);
std::optional<double> ParseNumber(std::string_view text);

// N, Nk, Nm or Ng (KiB, MiB, GiB); nullopt when malformed or past 2^62.
std::optional<std::int64_t> ParseBytes(std::string_view text);
// 4096 -> "4k", 1048576 -> "1m", 1000 -> "1000": the largest unit that divides the value.
std::string FormatBytes(std::int64_t bytes);

// Seconds: N, Ns, Nm, Nh or Nd; nullopt when malformed or past 2^40 seconds.
std::optional<std::int64_t> ParseDurationSeconds(std::string_view text);

// Comma- or space-separated items, empty ones dropped.
std::vector<std::string> SplitList(std::string_view text);

}  // namespace market::server
