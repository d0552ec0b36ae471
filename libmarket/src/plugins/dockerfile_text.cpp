#include "plugins/dockerfile_text.hpp"

#include <nlohmann/json.hpp>

namespace market::dockerfile {

std::string QuoteLiteral(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  for (char c : value) {
    if (c == '\\' || c == '"' || c == '$') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

namespace {
bool IsPlain(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  switch (c) {
    case '.':
    case '_':
    case '/':
    case '@':
    case '%':
    case '+':
    case '=':
    case ':':
    case ',':
    case '-':
      return true;
    default:
      return false;
  }
}
}  // namespace

std::string QuoteIfNeeded(std::string_view value) {
  if (value.empty()) return QuoteLiteral(value);
  for (char c : value) {
    if (!IsPlain(c)) return QuoteLiteral(value);
  }
  return std::string(value);
}

std::string ExecForm(const std::vector<std::string>& words) {
  std::string out = "[";
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ", ";
    out += nlohmann::json(words[i]).dump();
  }
  out += "]";
  return out;
}

Result<std::vector<std::string>> SplitShellWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
    } else if (c == '\'') {
      std::size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos) {
        return Fail(Errc::kInvalid, "unbalanced single quote at offset " + std::to_string(i));
      }
      word.append(text.substr(i + 1, end - i - 1));
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      std::size_t start = i;
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char d = text[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < text.size() &&
            (text[i + 1] == '"' || text[i + 1] == '\\' || text[i + 1] == '$' ||
             text[i + 1] == '`')) {
          word.push_back(text[i + 1]);
          i += 2;
          continue;
        }
        word.push_back(d);
        ++i;
      }
      if (!closed) {
        return Fail(Errc::kInvalid, "unbalanced double quote at offset " + std::to_string(start));
      }
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) {
        return Fail(Errc::kInvalid, "ends with a lone backslash");
      }
      word.push_back(text[i + 1]);
      in_word = true;
      i += 2;
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return Fail(Errc::kInvalid, "holds no command");
  return words;
}

bool EndsWithLineContinuation(std::string_view line) {
  std::size_t end = line.find_last_not_of(" \t");
  return end != std::string_view::npos && line[end] == '\\';
}

namespace {
bool IsIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
}  // namespace

bool HasHeredocMarker(std::string_view text) {
  for (std::size_t i = text.find("<<"); i != std::string_view::npos; i = text.find("<<", i + 1)) {
    if (i > 0 && text[i - 1] == '<') continue;  // third `<` of a here-string
    std::size_t j = i + 2;
    if (j < text.size() && text[j] == '<') continue;  // here-string `<<<`
    if (j < text.size() && text[j] == '-') ++j;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
    if (j < text.size() && (text[j] == '\'' || text[j] == '"')) ++j;
    if (j < text.size() && IsIdentifierStart(text[j])) return true;
  }
  return false;
}

}  // namespace market::dockerfile
