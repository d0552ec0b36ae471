#include "market/json_bounded.hpp"

#include <fmt/format.h>

namespace market {

namespace {

// nlohmann's own value builder behind a depth count: parsing stops at the first array or object
// deeper than kMaxJsonDepth, so nothing deeper is ever built. (The parser callback could discard
// it too, but nlohmann 3.11.2's callback builder rescans the parent after every object:
// quadratic in a long array of objects.) The builder is nlohmann's detail::json_sax_dom_parser,
// what json::parse itself uses.
class DepthLimitedBuilder {
 public:
  using json = nlohmann::json;

  explicit DepthLimitedBuilder(json& root) : builder_(root, /*allow_exceptions_=*/false) {}

  bool too_deep() const { return too_deep_; }

  // nlohmann's SAX interface
  bool null() { return builder_.null(); }
  bool boolean(bool value) { return builder_.boolean(value); }
  bool number_integer(json::number_integer_t value) { return builder_.number_integer(value); }
  bool number_unsigned(json::number_unsigned_t value) { return builder_.number_unsigned(value); }
  bool number_float(json::number_float_t value, const json::string_t& text) {
    return builder_.number_float(value, text);
  }
  bool string(json::string_t& value) { return builder_.string(value); }
  bool binary(json::binary_t& value) { return builder_.binary(value); }
  bool start_object(std::size_t size) { return Enter() && builder_.start_object(size); }
  bool key(json::string_t& value) { return builder_.key(value); }
  bool end_object() {
    --depth_;
    return builder_.end_object();
  }
  bool start_array(std::size_t size) { return Enter() && builder_.start_array(size); }
  bool end_array() {
    --depth_;
    return builder_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token, const json::exception& error) {
    return builder_.parse_error(position, token, error);
  }

 private:
  bool Enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    too_deep_ = true;
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> builder_;
  int depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

Result<std::optional<nlohmann::json>> ParseJsonBounded(std::string_view text,
                                                       std::string_view what) {
  // nlohmann's lexer reads a NUL byte as the end of the input, so "{}\0<anything>" would parse
  // as {} and the rest go unread. JSON text holds no raw NUL (RFC 8259: control characters only
  // escaped), so such text is not JSON.
  if (text.find('\0') != std::string_view::npos) return std::optional<nlohmann::json>{};
  nlohmann::json parsed;
  DepthLimitedBuilder builder(parsed);
  const bool complete = nlohmann::json::sax_parse(text, &builder);
  if (builder.too_deep()) {
    return Fail(Errc::kInvalid,
                fmt::format("{}: JSON nesting deeper than {} levels", what, kMaxJsonDepth));
  }
  if (!complete) return std::optional<nlohmann::json>{};
  return std::optional<nlohmann::json>(std::move(parsed));
}

}  // namespace market
