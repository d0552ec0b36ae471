#pragma once
// Plain-text tables for the terminal: left-aligned columns padded to the widest cell.

#include <ostream>
#include <string>
#include <vector>

namespace market::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // Missing cells are empty; extra cells are an error of the caller (they are dropped).
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  // Header line, then one line per row; two spaces between columns, no trailing spaces.
  void Render(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text, counted in code points (the names shown are ASCII; operators
// and messages may not be).
std::size_t DisplayWidth(const std::string& text);

}  // namespace market::cli
