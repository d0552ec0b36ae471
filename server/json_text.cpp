#include "json_text.hpp"

#include <charconv>

namespace market::server {

namespace {

// Printable ASCII other than the quote and the backslash: written as it is.
bool IsPlain(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7E || c == '"' || c == '\\') return false;
  }
  return true;
}

void AppendString(std::string_view text, std::string& out) {
  if (IsPlain(text)) {
    out += '"';
    out += text;
    out += '"';
    return;
  }
  out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

template <class Integer>
void AppendInteger(Integer number, std::string& out) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, number);
  out.append(digits, end);
}

void Append(const nlohmann::json& value, std::string& out) {
  using Kind = nlohmann::json::value_t;
  switch (value.type()) {
    case Kind::null:
      out += "null";
      return;
    case Kind::boolean:
      out += value.get_ref<const nlohmann::json::boolean_t&>() ? "true" : "false";
      return;
    case Kind::number_integer:
      return AppendInteger(value.get_ref<const nlohmann::json::number_integer_t&>(), out);
    case Kind::number_unsigned:
      return AppendInteger(value.get_ref<const nlohmann::json::number_unsigned_t&>(), out);
    case Kind::string:
      return AppendString(value.get_ref<const nlohmann::json::string_t&>(), out);
    case Kind::array: {
      out += '[';
      bool first = true;
      for (const auto& element : value.get_ref<const nlohmann::json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        Append(element, out);
      }
      out += ']';
      return;
    }
    case Kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, element] : value.get_ref<const nlohmann::json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        AppendString(key, out);
        out += ':';
        Append(element, out);
      }
      out += '}';
      return;
    }
    default:  // floating point, binary, discarded: nlohmann's own text
      out += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
  }
}

}  // namespace

void AppendJsonString(std::string_view text, std::string& out) { AppendString(text, out); }

void AppendJsonInteger(std::int64_t number, std::string& out) { AppendInteger(number, out); }

std::string JsonText(const nlohmann::json& value) {
  std::string out;
  out.reserve(256);
  Append(value, out);
  return out;
}

}  // namespace market::server
