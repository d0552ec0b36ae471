#include "glob.hpp"

#include <vector>

namespace market {

bool GlobMatches(std::string_view glob, std::string_view text) {
  // Dynamic programming over (glob position, text position), where a backtracking matcher could
  // take exponential time on globs like "*a*a*a*b".
  const std::size_t n = text.size();
  std::vector<char> row(n + 1, 0);  // row[j]: glob[0..i) matches text[0..j)
  row[0] = 1;
  std::size_t i = 0;
  while (i < glob.size()) {
    std::vector<char> next(n + 1, 0);
    if (glob[i] == '*') {
      const bool crosses = i + 1 < glob.size() && glob[i + 1] == '*';
      bool reach = false;  // some prefix the glob so far matches ends in this run
      for (std::size_t j = 0; j <= n; ++j) {
        if (j > 0 && !crosses && text[j - 1] == '/') reach = false;
        if (row[j]) reach = true;
        next[j] = reach ? 1 : 0;
      }
      while (i < glob.size() && glob[i] == '*') ++i;  // "***" is "**"
    } else {
      const bool any = glob[i] == '?';
      for (std::size_t j = 0; j < n; ++j) {
        if (row[j] && (any ? text[j] != '/' : text[j] == glob[i])) next[j + 1] = 1;
      }
      ++i;
    }
    row = std::move(next);
  }
  return row[n] != 0;
}

}  // namespace market
