#pragma once
// Small helpers shared by the fuzz checks.

#include <string_view>
#include <utility>

namespace market::fuzz {

// {text before the first '\n', text after it}; the whole text and "" without a line break.
inline std::pair<std::string_view, std::string_view> SplitLine(std::string_view text) {
  const auto newline = text.find('\n');
  if (newline == std::string_view::npos) return {text, {}};
  return {text.substr(0, newline), text.substr(newline + 1)};
}

}  // namespace market::fuzz
