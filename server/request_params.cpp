#include "request_params.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>

#include <fmt/format.h>

#include "market/pipeline_json.hpp"

namespace market::server {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int high = HexValue(text[i + 1]);
      int low = HexValue(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool IsJsonContentType(std::string_view content_type) {
  std::string lower(content_type.substr(0, content_type.find(';')));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view type = Trim(lower);
  return type == "application/json" || (type.starts_with("application/") && type.ends_with("+json"));
}

bool IsFormContentType(std::string_view content_type) {
  std::string lower(content_type.substr(0, content_type.find(';')));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Trim(lower) == "application/x-www-form-urlencoded";
}

const char* JsonTypeName(const nlohmann::json& value) {
  return value.type_name();
}

void AddAttribute(PluginInstance& entry, const std::string& attr, const std::string& value) {
  auto it = entry.attributes.find(attr);
  if (it == entry.attributes.end()) {
    entry.attributes.emplace(attr, value);
    return;
  }
  if (auto* single = std::get_if<std::string>(&it->second)) {
    std::vector<std::string> values{std::move(*single), value};
    it->second = std::move(values);
  } else {
    std::get<std::vector<std::string>>(it->second).push_back(value);
  }
}

}  // namespace

namespace {

constexpr std::string_view kBody = "request body";

// `k=v&{"a": "b"}&k2=v2`: every piece a JSON object or a form pair, at least one of each.
// nullopt when the body is not of that shape; a piece nested too deeply is an error.
Result<std::optional<std::pair<nlohmann::json, FormPairs>>> DecodeMixed(std::string_view body) {
  using Mixed = std::optional<std::pair<nlohmann::json, FormPairs>>;
  nlohmann::json merged = nlohmann::json::object();
  FormPairs pairs;
  bool saw_json = false;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view piece = Trim(body.substr(0, amp));
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (piece.empty()) continue;
    if (piece.starts_with('{')) {
      Result<std::optional<nlohmann::json>> object = ParseJsonBounded(piece, kBody);
      if (!object) return std::unexpected(std::move(object).error());
      if (!*object || !(*object)->is_object()) return Mixed{};
      // Moved, not copied (json::update copies each value, recursively).
      for (auto& [key, value] : (*object)->get_ref<nlohmann::json::object_t&>()) {
        merged[key] = std::move(value);
      }
      saw_json = true;
    } else {
      Result<FormPairs> form = ParseUrlEncoded(piece);
      if (!form || piece.find('=') == std::string_view::npos) return Mixed{};
      pairs.insert(pairs.end(), std::make_move_iterator(form->begin()),
                   std::make_move_iterator(form->end()));
    }
  }
  if (!saw_json || pairs.empty()) return Mixed{};
  return std::make_pair(std::move(merged), std::move(pairs));
}

}  // namespace

Result<FormPairs> ParseUrlEncoded(std::string_view text) {
  FormPairs pairs;
  while (!text.empty()) {
    std::size_t amp = text.find('&');
    std::string_view piece = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{} : text.substr(amp + 1);
    if (piece.empty()) continue;
    std::size_t eq = piece.find('=');
    std::string_view raw_key = piece.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
    std::optional<std::string> key = PercentDecode(raw_key);
    if (!key) return Fail(Errc::kInvalid, "malformed percent-encoding in a parameter name");
    std::optional<std::string> value = PercentDecode(raw_value);
    if (!value) {
      return Fail(Errc::kInvalid, fmt::format("{} has malformed percent-encoding", *key));
    }
    pairs.emplace_back(std::move(*key), std::move(*value));
  }
  return pairs;
}

Pipeline PipelineFromForm(const FormPairs& pairs) {
  constexpr std::string_view kPluginKey = "$$plugin";
  Pipeline pipeline;
  std::map<std::string, std::size_t, std::less<>> latest;  // plugin name -> its latest entry
  for (const auto& [key, value] : pairs) {
    if (key == kPluginKey) {
      pipeline.push_back(PluginInstance{value, {}});
      latest[value] = pipeline.size() - 1;
      continue;
    }
    std::size_t dot = key.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == key.size()) continue;
    std::string plugin = key.substr(0, dot);
    std::string attr = key.substr(dot + 1);
    auto it = latest.find(plugin);
    if (it == latest.end()) {
      pipeline.push_back(PluginInstance{plugin, {}});
      it = latest.emplace(plugin, pipeline.size() - 1).first;
    }
    AddAttribute(pipeline[it->second], attr, value);
  }
  return pipeline;
}

Result<RequestParams> RequestParams::Decode(std::string_view query, std::string_view content_type,
                                            std::string_view body) {
  RequestParams params;
  std::string_view trimmed = Trim(body);
  const bool json = IsJsonContentType(content_type) ||
                    (!IsFormContentType(content_type) && trimmed.starts_with('{'));
  // `curl -d '{...}'` labels JSON as a form; no real form starts with '{'.
  const bool maybe_json = !json && trimmed.starts_with('{');
  if ((json || maybe_json) && !trimmed.empty()) {
    // Too deep is refused whatever the content type says: the text was meant as JSON.
    Result<std::optional<nlohmann::json>> parsed = ParseJsonBounded(trimmed, kBody);
    if (!parsed) return std::unexpected(std::move(parsed).error());
    if (*parsed && (*parsed)->is_object()) {
      params.json_ = std::move(**parsed);
    } else if (maybe_json) {
      Result<FormPairs> pairs = ParseUrlEncoded(body);
      if (!pairs) return std::unexpected(pairs.error());
      params.form_ = std::move(*pairs);
    } else if (*parsed) {
      return Fail(Errc::kInvalid, "body must be a JSON object");
    } else {
      // The seed's own examples send `curl -d 'method=DELETE' -d '{"repoName":...}'`: curl
      // joins them with '&' under a JSON content type. Accept exactly that shape.
      Result<std::optional<std::pair<nlohmann::json, FormPairs>>> mixed = DecodeMixed(trimmed);
      if (!mixed) return std::unexpected(std::move(mixed).error());
      if (!*mixed) return Fail(Errc::kInvalid, "body is not valid JSON");
      params.json_ = std::move((*mixed)->first);
      params.form_ = std::move((*mixed)->second);
    }
  } else if (!json) {
    Result<FormPairs> pairs = ParseUrlEncoded(body);
    if (!pairs) return std::unexpected(pairs.error());
    params.form_ = std::move(*pairs);
  }
  Result<FormPairs> query_pairs = ParseUrlEncoded(query);
  if (!query_pairs) return std::unexpected(query_pairs.error());
  params.form_.insert(params.form_.end(), std::make_move_iterator(query_pairs->begin()),
                      std::make_move_iterator(query_pairs->end()));
  return params;
}

bool RequestParams::Has(std::string_view field) const {
  if (json_.contains(field)) return true;
  return std::any_of(form_.begin(), form_.end(),
                     [&](const auto& pair) { return pair.first == field; });
}

Result<std::optional<std::string>> RequestParams::Optional(std::string_view field) const {
  if (auto it = json_.find(field); it != json_.end()) {
    if (it->is_null()) return std::optional<std::string>{};
    if (!it->is_string()) {
      return Fail(Errc::kInvalid,
                  fmt::format("{} must be a string, not {}", field, JsonTypeName(*it)));
    }
    return std::optional<std::string>(it->get<std::string>());
  }
  for (const auto& [key, value] : form_) {
    if (key == field) return std::optional<std::string>(value);
  }
  return std::optional<std::string>{};
}

Result<std::string> RequestParams::Required(std::string_view field) const {
  Result<std::optional<std::string>> value = Optional(field);
  if (!value) return std::unexpected(value.error());
  if (!value->has_value() || (*value)->empty()) {
    return Fail(Errc::kInvalid, fmt::format("{} is required", field));
  }
  return std::move(**value);
}

Result<std::string> RequestParams::Text(std::string_view field) const {
  Result<std::optional<std::string>> value = Optional(field);
  if (!value) return std::unexpected(value.error());
  return value->value_or("");
}

Result<std::string> RequestParams::NumberText(std::string_view field) const {
  if (auto it = json_.find(field); it != json_.end()) {
    if (it->is_number_integer()) return it->dump();
    if (it->is_null()) return std::string();
    if (!it->is_string()) {
      return Fail(Errc::kInvalid,
                  fmt::format("{} must be an integer, not {}", field, JsonTypeName(*it)));
    }
    return it->get<std::string>();
  }
  return Text(field);
}

Result<bool> RequestParams::Flag(std::string_view field) const {
  if (auto it = json_.find(field); it != json_.end()) {
    if (it->is_boolean()) return it->get<bool>();
    if (it->is_number_integer()) return it->get<long long>() != 0;
  }
  Result<std::string> text = Text(field);
  if (!text) return std::unexpected(text.error());
  std::string lower = *text;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.empty() || lower == "0" || lower == "false" || lower == "no" || lower == "off") {
    return false;
  }
  if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
  return Fail(Errc::kInvalid, fmt::format("{} must be true or false, not '{}'", field, *text));
}

Result<Pipeline> RequestParams::PipelineParam() const {
  if (auto it = json_.find("$$plugin"); it != json_.end()) {
    if (it->is_null()) return Pipeline{};
    return PipelineFromJson(*it, "$$plugin");
  }
  return PipelineFromForm(form_);
}

std::map<std::string, std::string> RequestParams::StringMap(
    const std::vector<std::string_view>& excluded) const {
  auto skip = [&](std::string_view key) {
    return std::find(excluded.begin(), excluded.end(), key) != excluded.end();
  };
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : json_.items()) {
    if (skip(key)) continue;
    out.emplace(key, value.is_string() ? value.get<std::string>()
                                       : (value.is_null() ? std::string() : value.dump()));
  }
  for (const auto& [key, value] : form_) {
    if (!skip(key)) out.emplace(key, value);  // the first of repeated pairs wins, as in Optional
  }
  return out;
}

}  // namespace market::server
