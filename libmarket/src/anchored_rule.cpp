#include "anchored_rule.hpp"

#include <fmt/format.h>

namespace market {

Result<std::regex> CompileRule(std::string_view field, const std::string& pattern) {
  if (pattern.size() > kMaxRuleLength) {
    return Fail(Errc::kInvalid,
                fmt::format("{} is longer than {} characters", field, kMaxRuleLength));
  }
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::nosubs);
  } catch (const std::regex_error& e) {
    return Fail(Errc::kInvalid, fmt::format("{} is not a regular expression: {}", field, e.what()));
  }
}

}  // namespace market
