#pragma once
// Request decoding: the parameters of a request from its query string and its body (a JSON
// object or form-urlencoded), and the pipeline in either of save's encodings.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "market/error.hpp"
#include "market/json_bounded.hpp"
#include "market/project.hpp"

namespace market::server {

using FormPairs = std::vector<std::pair<std::string, std::string>>;

// Splits `a=1&b=x+y&c=%24` into decoded pairs, in order. kInvalid for a bad %-escape.
Result<FormPairs> ParseUrlEncoded(std::string_view text);

// The original page's pipeline encoding: `$$plugin=NAME` opens an entry; `NAME.attr=value`
// belongs to the latest entry of NAME (an attribute before any `$$plugin=NAME` opens one); a
// repeated attribute becomes an array, in order. Pairs without a dot are not pipeline pairs.
Pipeline PipelineFromForm(const FormPairs& pairs);

class RequestParams {
 public:
  // A body is JSON when the content type says so, or when it starts with '{' and is a JSON
  // object (curl -d labels everything a form); otherwise form-urlencoded. Body parameters win over query parameters of the same name.
  // JSON nested deeper than kMaxJsonDepth is kInvalid "request body: JSON nesting deeper than
  // 64 levels". Forms do not nest: their pairs and pipeline entries are flat lists.
  static Result<RequestParams> Decode(std::string_view query, std::string_view content_type,
                                      std::string_view body);

  bool Has(std::string_view field) const;
  // A text parameter: missing gives nullopt; a JSON value other than a string is kInvalid.
  Result<std::optional<std::string>> Optional(std::string_view field) const;
  // Like Optional, but missing or empty is kInvalid "<field> is required".
  Result<std::string> Required(std::string_view field) const;
  // Like Optional, missing gives "".
  Result<std::string> Text(std::string_view field) const;
  // A number as text (for ParsePage and friends): JSON integers and strings are accepted.
  Result<std::string> NumberText(std::string_view field) const;
  // A flag: "1", "true", "yes", "on" (or JSON true) is true; missing is false.
  Result<bool> Flag(std::string_view field) const;
  // The pipeline: JSON "$$plugin": [...] when the JSON body has it, else the form encoding of
  // the query and form body pairs.
  Result<Pipeline> PipelineParam() const;
  // Every parameter except `excluded`, as text (JSON non-strings as their JSON text: dump
  // recurses, at most kMaxJsonDepth levels deep since Decode refuses deeper bodies).
  std::map<std::string, std::string> StringMap(const std::vector<std::string_view>& excluded) const;

 private:
  nlohmann::json json_ = nlohmann::json::object();  // a JSON body's object
  FormPairs form_;                                  // form body pairs, then query pairs
};

}  // namespace market::server
