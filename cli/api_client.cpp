#include "api_client.hpp"

#include <fmt/format.h>

namespace market::cli {

namespace {

constexpr std::size_t kSnippetBytes = 200;

// The first bytes of a body that is not an envelope, on one line, for the error message.
std::string Snippet(std::string_view body) {
  std::string out(body.substr(0, kSnippetBytes));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (body.size() > kSnippetBytes) out += "...";
  return out;
}

}  // namespace

CliResult<std::unique_ptr<ApiClient>> ApiClient::Create(ClientOptions options) {
  Result<harbor::Url> base = harbor::ParseUrl(options.server);
  if (!base) {
    return UsageError(fmt::format("--server {}: {}", options.server, base.error().message));
  }
  if (base->target.find('?') != std::string::npos) {
    return UsageError(fmt::format("--server {}: a query string is not allowed", options.server));
  }
  // A trailing slash would double up with the API paths.
  while (!base->target.empty() && base->target.back() == '/') base->target.pop_back();
  harbor::HttpClientOptions http_options;
  http_options.request_timeout = std::chrono::seconds(60);
  Result<std::unique_ptr<harbor::HttpClient>> http = harbor::HttpClient::Create(http_options);
  if (!http) return std::unexpected(CliError{kExitFailure, 0, http.error().message});
  return std::unique_ptr<ApiClient>(
      new ApiClient(std::move(options), std::move(*base), std::move(*http)));
}

ApiClient::ApiClient(ClientOptions options, harbor::Url base,
                     std::unique_ptr<harbor::HttpClient> http)
    : options_(std::move(options)), base_(std::move(base)), http_(std::move(http)) {}

CliResult<void> ApiClient::RequireOperator() const {
  if (options_.operator_name.empty() && options_.token.empty()) {
    return UsageError(
        "no operator: give --operator NAME or set MARKET_OPERATOR (or USER), or use a token");
  }
  return {};
}

CliResult<Envelope> ApiClient::Get(std::string_view path, const QueryParams& query) {
  harbor::HttpRequest request;
  request.method = "GET";
  request.url = base_;
  request.url.target += path;
  char separator = '?';
  for (const auto& [name, value] : query) {
    request.url.target += separator;
    request.url.target += harbor::PercentEncode(name) + "=" + harbor::PercentEncode(value);
    separator = '&';
  }
  return Send(std::move(request));
}

CliResult<Envelope> ApiClient::Post(std::string_view path, nlohmann::json body) {
  if (!body.contains("operator") && !options_.operator_name.empty()) {
    body["operator"] = options_.operator_name;
  }
  harbor::HttpRequest request;
  request.method = "POST";
  request.url = base_;
  request.url.target += path;
  request.headers.push_back({"Content-Type", "application/json"});
  request.body = body.dump();
  return Send(std::move(request));
}

CliResult<Envelope> ApiClient::Send(harbor::HttpRequest request) {
  if (request.url.target.empty() || request.url.target.front() != '/') {
    request.url.target.insert(0, "/");
  }
  request.headers.push_back({"Accept", "application/json"});
  if (!options_.token.empty()) {
    request.headers.push_back({"Authorization", "Bearer " + options_.token});
  }
  Result<harbor::HttpResponse> response = http_->Send(request);
  if (!response) {
    const bool unreachable = response.error().code == Errc::kUpstreamFailed ||
                             response.error().code == Errc::kUpstreamTimeout;
    return std::unexpected(CliError{unreachable ? kExitUnreachable : kExitFailure, 0,
                                    fmt::format("cannot reach the server at {}: {}",
                                                options_.server, response.error().message)});
  }
  nlohmann::json whole = nlohmann::json::parse(response->body, nullptr, false);
  if (whole.is_discarded() || !whole.is_object() || !whole.contains("code") ||
      !whole["code"].is_number_integer()) {
    return std::unexpected(
        CliError{kExitFailure, 0,
                 fmt::format("the server answered HTTP {} without an API envelope: {}",
                             response->status, Snippet(response->body))});
  }
  const int code = whole["code"].get<int>();
  if (code != static_cast<int>(Errc::kOk)) {
    std::string message = whole.contains("errMsg") && whole["errMsg"].is_string()
                              ? whole["errMsg"].get<std::string>()
                              : fmt::format("HTTP {}", response->status);
    return std::unexpected(CliError{kExitFailure, code, std::move(message)});
  }
  if (!whole.contains("content")) whole["content"] = nullptr;
  return Envelope{std::move(whole)};
}

}  // namespace market::cli
