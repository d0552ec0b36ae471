// CheckRequestDecoding: the server's request decoding (JSON, form-urlencoded, the `$$plugin=`
// pipeline encoding) under arbitrary input, and JSON nested past the decoder's limit.
#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_checks.hpp"
#include "fuzz_support.hpp"
#include "market/pipeline_json.hpp"
#include "request_params.hpp"

namespace market::fuzz {

namespace {

using server::FormPairs;
using server::RequestParams;

// Pipelines are stored as PipelineToJson(...) and read back with PipelineFromJson. Entries the
// JSON shape cannot hold (no plugin name, an attribute named $$plugin) never get past
// validation, so only the others must survive the trip.
Problem CheckRoundTrip(const Pipeline& pipeline, const std::string& what) {
  for (const PluginInstance& entry : pipeline) {
    if (entry.plugin.empty() || entry.attributes.contains("$$plugin")) return std::nullopt;
  }
  Result<Pipeline> back = PipelineFromJson(PipelineToJson(pipeline));
  if (!back) {
    return what + ": PipelineFromJson rejects what PipelineToJson wrote: " + back.error().message;
  }
  if (*back != pipeline) return what + ": the pipeline changed in the JSON round trip";
  return std::nullopt;
}

// A pipeline read from parsed JSON holds only valid UTF-8, so the store can always dump it.
Problem CheckDumpable(const Pipeline& pipeline, const std::string& what) {
  try {
    (void)PipelineToJson(pipeline).dump();
  } catch (const nlohmann::json::exception& e) {
    return what + ": the decoded pipeline cannot be written as JSON: " + e.what();
  }
  return std::nullopt;
}

std::string PercentEncodeAll(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// ParseUrlEncoded: decoded pairs, encoded again, decode to the same pairs; PipelineFromForm
// keeps every pipeline pair.
Problem CheckForm(std::string_view text) {
  Result<FormPairs> pairs = server::ParseUrlEncoded(text);
  if (!pairs) {
    if (pairs.error().code != Errc::kInvalid) return "ParseUrlEncoded failed with a code other than kInvalid";
    return std::nullopt;
  }
  std::string encoded;
  for (const auto& [key, value] : *pairs) {
    if (!encoded.empty()) encoded += '&';
    encoded += PercentEncodeAll(key) + "=" + PercentEncodeAll(value);
  }
  Result<FormPairs> again = server::ParseUrlEncoded(encoded);
  if (!again) return "ParseUrlEncoded rejects its own pairs, encoded: " + again.error().message;
  // Empty pieces (`a=1&&b=2`, or a pair with an empty name and value) leave nothing to compare.
  FormPairs expected;
  for (const auto& pair : *pairs) {
    if (!pair.first.empty() || !pair.second.empty()) expected.push_back(pair);
  }
  FormPairs got;
  for (const auto& pair : *again) {
    if (!pair.first.empty() || !pair.second.empty()) got.push_back(pair);
  }
  if (got != expected) return std::string("ParseUrlEncoded: pairs changed after encoding them again");

  const Pipeline pipeline = server::PipelineFromForm(*pairs);
  std::size_t pipeline_pairs = 0;
  for (const auto& [key, value] : *pairs) {
    const auto dot = key.find('.');
    if (key != "$$plugin" && dot != std::string::npos && dot != 0 && dot + 1 != key.size()) {
      ++pipeline_pairs;
    }
  }
  std::size_t values = 0;
  for (const PluginInstance& entry : pipeline) {
    for (const auto& [name, value] : entry.attributes) {
      values += std::holds_alternative<std::string>(value)
                    ? 1
                    : std::get<std::vector<std::string>>(value).size();
    }
  }
  if (values != pipeline_pairs) {
    return "PipelineFromForm kept " + std::to_string(values) + " of " +
           std::to_string(pipeline_pairs) + " attribute pairs";
  }
  return CheckRoundTrip(pipeline, "PipelineFromForm");
}

// The generator: `<<N|text>>` stands for `text` N times, so that an input of libFuzzer's few
// kilobytes can be 600 KB of `[`. The whole expansion stays within the server's default body
// limit (1 MiB); a repeat past it is cut short.
constexpr std::size_t kMaxExpanded = 1 << 20;

std::string Expand(std::string_view input) {
  std::string out;
  while (!input.empty() && out.size() < kMaxExpanded) {
    const std::size_t open = input.find("<<");
    const std::size_t bar = input.find('|', open);
    const std::size_t close = input.find(">>", bar);
    std::size_t count = 0;
    bool numbered = open != std::string_view::npos && bar != std::string_view::npos &&
                    close != std::string_view::npos && bar > open + 2 && bar <= open + 9;
    for (std::size_t i = open + 2; numbered && i < bar; ++i) {
      numbered = input[i] >= '0' && input[i] <= '9';
      count = count * 10 + static_cast<std::size_t>(input[i] - '0');
    }
    if (!numbered) {
      const std::size_t literal = open == std::string_view::npos ? input.size() : open + 2;
      out.append(input.substr(0, literal));
      input.remove_prefix(literal);
      continue;
    }
    out.append(input.substr(0, open));
    const std::string_view text = input.substr(bar + 1, close - bar - 1);
    for (std::size_t i = 0; i < count && !text.empty() && out.size() < kMaxExpanded; ++i) {
      out.append(text);
    }
    input.remove_prefix(close + 2);
  }
  if (out.size() > kMaxExpanded) out.resize(kMaxExpanded);
  return out;
}

// The deepest nesting of arrays and objects in JSON text (meaningful for valid JSON): brackets
// outside strings, counted without the parser under test.
int NestingDepth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Valid JSON nested deeper than kMaxJsonDepth is refused, naming the limit, before any of it is
// copied or written (which would recurse once per level); JSON within the limit never is.
Problem CheckNestingLimit(std::string_view body) {
  const std::string kTooDeep = "request body: JSON nesting deeper than 64 levels";
  // accept() runs the parser without building a value: it does not recurse. It stops at a NUL
  // byte as if the input ended there; text with one is not JSON (ParseJsonBounded says so).
  if (body.find('\0') != std::string_view::npos || !nlohmann::json::accept(body)) {
    return std::nullopt;
  }
  const bool too_deep = NestingDepth(body) > market::kMaxJsonDepth;
  Result<RequestParams> params = RequestParams::Decode("", "application/json", body);
  const bool refused = !params && params.error().message == kTooDeep;
  if (too_deep && !refused) {
    return "JSON " + std::to_string(NestingDepth(body)) + " levels deep was not refused with '" +
           kTooDeep + "'" + (params ? std::string() : ": " + params.error().message);
  }
  if (!too_deep && refused) return std::string("JSON within the nesting limit was refused");
  return std::nullopt;
}

// The accessors of one field must agree with each other and with StringMap.
Problem CheckField(const RequestParams& params, const std::map<std::string, std::string>& all,
                   const std::string& field) {
  const std::string where = "field '" + field + "': ";
  const auto optional = params.Optional(field);
  const auto text = params.Text(field);
  const auto required = params.Required(field);
  const auto number = params.NumberText(field);
  const auto flag = params.Flag(field);
  for (const Error* e : {optional ? nullptr : &optional.error(), text ? nullptr : &text.error(),
                         required ? nullptr : &required.error(),
                         number ? nullptr : &number.error(), flag ? nullptr : &flag.error()}) {
    if (e != nullptr && (e->code != Errc::kInvalid || e->message.empty())) {
      return where + "an accessor failed with a code other than kInvalid or without a message";
    }
  }
  if (optional.has_value() != text.has_value()) return where + "Optional and Text disagree";
  if (optional && *text != optional->value_or("")) return where + "Text differs from Optional";
  if (required && !(optional && optional->has_value() && **optional == *required)) {
    return where + "Required gives a value that Optional does not";
  }
  if (optional && optional->has_value() && !(*optional)->empty() && !required) {
    return where + "Required fails although Optional has a non-empty value";
  }
  if (!params.Has(field)) {
    if (!optional || optional->has_value()) return where + "Optional of a missing field is not empty";
    if (!flag || *flag) return where + "Flag of a missing field is not false";
  }
  if (optional && optional->has_value()) {
    auto it = all.find(field);
    if (it == all.end() || it->second != **optional) {
      return where + "StringMap disagrees with Optional";
    }
  }
  return std::nullopt;
}

}  // namespace

Problem CheckRequestDecoding(std::string_view raw_input) {
  const std::string expanded = Expand(raw_input);
  const std::string_view input = expanded;
  auto [content_type, rest] = SplitLine(input);
  auto [query, body] = SplitLine(rest);

  if (Problem p = CheckForm(body)) return "body: " + *p;
  if (Problem p = CheckForm(query)) return "query: " + *p;
  if (Problem p = CheckNestingLimit(body)) return p;

  // A JSON body as the save handler reads it.
  Result<std::optional<nlohmann::json>> parsed = market::ParseJsonBounded(body, "request body");
  if (!parsed && parsed.error().code != Errc::kInvalid) {
    return std::string("ParseJsonBounded failed with a code other than kInvalid");
  }
  if (parsed && parsed->has_value()) {
    nlohmann::json& json = **parsed;
    const nlohmann::json* pipeline_json = &json;
    if (json.is_object() && json.contains("$$plugin")) pipeline_json = &json["$$plugin"];
    Result<Pipeline> pipeline = PipelineFromJson(*pipeline_json);
    if (pipeline) {
      if (Problem p = CheckDumpable(*pipeline, "PipelineFromJson")) return p;
      if (Problem p = CheckRoundTrip(*pipeline, "PipelineFromJson")) return p;
    } else if (pipeline.error().code != Errc::kInvalid) {
      return std::string("PipelineFromJson failed with a code other than kInvalid");
    }
  }

  Result<RequestParams> params = RequestParams::Decode(query, content_type, body);
  if (!params) {
    if (params.error().code != Errc::kInvalid || params.error().message.empty()) {
      return std::string("Decode failed with a code other than kInvalid or without a message");
    }
    return std::nullopt;
  }
  const std::map<std::string, std::string> all = params->StringMap({});
  std::vector<std::string> fields = {"projectName", "name",  "$$plugin", "page",   "pageSize",
                                     "force",       "method", "tag",     "repoName", ""};
  std::size_t extra = 0;
  for (const auto& [key, value] : all) {
    if (++extra > 16) break;
    fields.push_back(key);
  }
  for (const std::string& field : fields) {
    if (Problem p = CheckField(*params, all, field)) return p;
  }
  const auto excluded = params->StringMap({"projectName", "$$plugin"});
  if (excluded.contains("projectName") || excluded.contains("$$plugin")) {
    return std::string("StringMap keeps an excluded field");
  }
  Result<Pipeline> pipeline = params->PipelineParam();
  if (!pipeline) {
    if (pipeline.error().code != Errc::kInvalid) {
      return std::string("PipelineParam failed with a code other than kInvalid");
    }
    return std::nullopt;
  }
  return CheckRoundTrip(*pipeline, "PipelineParam");
}

}  // namespace market::fuzz
