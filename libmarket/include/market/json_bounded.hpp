#pragma once
// Parsing JSON that others sent: bounded in depth, so no value can exhaust a thread's stack.

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "market/error.hpp"

namespace market {

// The deepest nesting of arrays and objects a request's JSON may have. nlohmann parses without
// recursion, but copying, comparing and writing a value (dump) recurse once per level, and
// about 600 KB of `[` overflow a thread's stack; 64 is far more than any request needs (a
// pipeline is 3 levels deep).
inline constexpr int kMaxJsonDepth = 64;

// Parses client bytes as JSON, refusing nesting deeper than kMaxJsonDepth while parsing: no
// value deeper than that is ever built. A value; nullopt when `text` is not JSON (text with a NUL
// byte never is); kInvalid "<what>: JSON nesting deeper than 64 levels" when it nests deeper
// (parsing stops there, so whatever follows is not looked at).
Result<std::optional<nlohmann::json>> ParseJsonBounded(std::string_view text,
                                                       std::string_view what);

}  // namespace market
