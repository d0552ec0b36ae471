#pragma once
// Anchored regular expressions a person writes into a rule (trigger ref rules, immutability and
// retention tag patterns): ECMAScript without back-references, at most kMaxRegexLength
// characters, matched against the whole name in time linear in its length.

#include <cstddef>
#include <regex>
#include <string>
#include <string_view>

#include "market/error.hpp"

namespace market {

inline constexpr std::size_t kMaxRegexLength = 256;

// Compiles `pattern`; kInvalid naming `field` when it is too long or not a regex.
Result<std::regex> CompileAnchoredRegex(std::string_view field, const std::string& pattern);

// Whether the whole of `name` matches. A pattern that does not compile, or that the matcher
// gives up on (too complex), matches nothing.
bool MatchesAnchored(const std::regex& rule, std::string_view name);
bool MatchesAnchored(const std::string& pattern, std::string_view name);

}  // namespace market
