#include "anchored_regex.hpp"

#include <fmt/format.h>

namespace market {

Result<std::regex> CompileAnchoredRegex(std::string_view field, const std::string& pattern) {
  if (pattern.size() > kMaxRegexLength) {
    return Fail(Errc::kInvalid,
                fmt::format("{} is longer than {} characters", field, kMaxRegexLength));
  }
  try {
    // __polynomial (libstdc++) matches breadth-first: time linear in the name for a given rule,
    // where the default backtracking takes exponential time on rules like (a*)*b. It refuses
    // back-references, which a rule on names does not need.
    return std::regex(pattern, std::regex::ECMAScript | std::regex::nosubs |
                                   std::regex_constants::__polynomial);
  } catch (const std::regex_error& e) {
    return Fail(Errc::kInvalid, fmt::format("{} is not a regular expression: {}", field, e.what()));
  }
}

bool MatchesAnchored(const std::regex& rule, std::string_view name) {
  try {
    return std::regex_match(name.begin(), name.end(), rule);
  } catch (const std::regex_error&) {
    return false;
  }
}

bool MatchesAnchored(const std::string& pattern, std::string_view name) {
  auto rule = CompileAnchoredRegex("rule", pattern);
  return rule && MatchesAnchored(*rule, name);
}

}  // namespace market
