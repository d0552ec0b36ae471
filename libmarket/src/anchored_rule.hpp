#pragma once
// Rules written as regular expressions that must match a whole name (build triggers' ref rules,
// immutability rules' tag patterns): one compilation, one bound on their length.

#include <cstddef>
#include <regex>
#include <string>
#include <string_view>

#include "market/error.hpp"

namespace market {

inline constexpr std::size_t kMaxRuleLength = 256;

// ECMAScript without sub-matches or back-references, matched in time linear in the name. kInvalid naming `field`: longer than kMaxRuleLength, or not
// a regular expression.
Result<std::regex> CompileRule(std::string_view field, const std::string& pattern);

}  // namespace market
