#pragma once
// The market server's HTTP API as the command-line client sees it: envelope calls over the
// shared blocking HTTP client, with failures sorted into what the user must be told.

#include <expected>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "market/harbor_client/http_client.hpp"

namespace market::cli {

// Process exit codes: the contract scripts rely on.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // the server refused (any return code but 10000), or a build failed
  kExitUsage = 2,        // bad arguments or a bad input file
  kExitUnreachable = 3,  // the server cannot be reached (or did not answer in time)
};

// A failure the user is told about on stderr, with the process exit code.
struct CliError {
  int exit_code = kExitFailure;
  int code = 0;  // the envelope's return code; 0 when there is none (transport, usage)
  std::string message;
};

template <class T = void>
using CliResult = std::expected<T, CliError>;

inline std::unexpected<CliError> UsageError(std::string message) {
  return std::unexpected(CliError{kExitUsage, 0, std::move(message)});
}

struct ClientOptions {
  std::string server;  // base URL, e.g. http://127.0.0.1:8080
  std::string operator_name;  // empty with a token: the token's user
  std::string token;          // sent as a bearer token; never printed
};

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// A successful envelope (code 10000): `content` plus the top-level paging fields of list.
struct Envelope {
  nlohmann::json whole;
  const nlohmann::json& content() const { return whole.at("content"); }
};

class ApiClient {
 public:
  // A usage error when the server URL does not parse.
  static CliResult<std::unique_ptr<ApiClient>> Create(ClientOptions options);

  CliResult<Envelope> Get(std::string_view path, const QueryParams& query);
  // A JSON body; `operator` is added from the options when the body has none and one is set.
  CliResult<Envelope> Post(std::string_view path, nlohmann::json body);

  const ClientOptions& options() const { return options_; }
  // Changes need an operator: the options' one, or with a token none (the server records the
  // token's user). A usage error saying how to give one otherwise.
  CliResult<void> RequireOperator() const;

 private:
  ApiClient(ClientOptions options, harbor::Url base, std::unique_ptr<harbor::HttpClient> http);
  CliResult<Envelope> Send(harbor::HttpRequest request);

  ClientOptions options_;
  harbor::Url base_;
  std::unique_ptr<harbor::HttpClient> http_;
};

}  // namespace market::cli
