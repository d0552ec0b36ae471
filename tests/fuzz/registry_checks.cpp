// CheckRegistryParsing: the registry clients' parsing of what Harbor and distribution registries
// answer (project, repository and artifact lists, manifests and indexes, tag lists, bearer
// challenges, Link headers, error bodies).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base64.hpp"
#include "fuzz_checks.hpp"
#include "fuzz_support.hpp"
#include "loopback_server.hpp"
#include "market/harbor_client/http_client.hpp"
#include "market/harbor_client/registry_factory.hpp"
#include "registry_http.hpp"

namespace market::fuzz {

namespace {

constexpr std::string_view kUser = "fuzzuser";
constexpr std::string_view kPassword = "fuzz-pass-Secret9";
constexpr std::size_t kMaxAnswers = 64;

LoopbackServer& Server() {
  static LoopbackServer* server = [] {
    // Every MakeRegistry loads the system CA store (about 200 ms, far longer than the parsing
    // under test). Only plain http to loopback happens here, so give OpenSSL nothing to load.
    ::setenv("SSL_CERT_FILE", "/nonexistent/market-fuzz", 1);
    ::setenv("SSL_CERT_DIR", "/nonexistent/market-fuzz", 1);
    return new LoopbackServer();  // lives as long as the process
  }();
  return *server;
}

std::vector<std::string> Words(std::string_view line) {
  std::vector<std::string> words;
  std::istringstream in{std::string(line)};
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

int Number(const std::vector<std::string>& words, std::size_t index, int fallback) {
  if (index >= words.size()) return fallback;
  int value = fallback;
  const std::string& w = words[index];
  std::from_chars(w.data(), w.data() + w.size(), value);
  return value;
}

std::string Word(const std::vector<std::string>& words, std::size_t index) {
  return index < words.size() ? words[index] : std::string();
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// "<status>\n<Name: value>...\n\n<body>" as raw HTTP, framed by a Content-Length of our own so
// that the client always gets a complete message.
LoopbackServer::Answer MakeAnswer(std::string_view text) {
  auto [status_line, rest] = SplitLine(text);
  int status = 200;
  std::from_chars(status_line.data(), status_line.data() + status_line.size(), status);
  if (status < 100 || status > 599) status = 200;
  std::string head = "HTTP/1.1 " + std::to_string(status) + " Fuzz\r\n";
  while (!rest.empty()) {
    auto [line, after] = SplitLine(rest);
    rest = after;
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    if (IEquals(name, "content-length") || IEquals(name, "transfer-encoding") ||
        IEquals(name, "connection")) {
      continue;
    }
    std::string header(line);
    std::erase(header, '\r');
    head += header + "\r\n";
  }
  head += "Content-Length: " + std::to_string(rest.size()) + "\r\n\r\n";
  return {std::move(head), std::string(rest)};
}

Problem CheckError(const Error& error, bool input_has_password) {
  switch (error.code) {
    case Errc::kInvalid:
    case Errc::kNotFound:
    case Errc::kUpstreamFailed:
    case Errc::kUpstreamTimeout:
    case Errc::kUnauthorized:
    case Errc::kForbidden:
    case Errc::kTooManyRequests:
    case Errc::kRegistryUnsupported:
    case Errc::kTagShared:
      break;
    default:
      return "registry error with an unexpected code " +
             std::to_string(static_cast<int>(error.code)) + ": " + error.message;
  }
  if (error.message.empty()) return std::string("registry error without a message");
  const std::string basic = Base64Encode(std::string(kUser) + ":" + std::string(kPassword));
  if (!input_has_password && (error.message.find(kPassword) != std::string::npos ||
                              error.message.find(basic) != std::string::npos)) {
    return "registry error message shows the password: " + error.message;
  }
  return std::nullopt;
}

template <class T>
Problem CheckPaged(const Result<Paged<T>>& result, int page_size, bool sliced,
                   bool input_has_password) {
  if (!result) return CheckError(result.error(), input_has_password);
  if (result->total_count < 0) return std::string("negative total_count");
  if (sliced && result->items.size() > static_cast<std::size_t>(std::max(page_size, 0))) {
    return std::string("more items than the page size");
  }
  return std::nullopt;
}

// The helpers that need no network, called directly (much faster than a round trip).
Problem CheckHelpers(std::string_view op, std::string_view text) {
  if (op == "challenge") {
    for (const auto& [name, value] : harbor::ParseChallenge(text)) {
      for (char c : name) {
        if (std::isupper(static_cast<unsigned char>(c))) {
          return "challenge parameter name not lower-cased: " + name;
        }
      }
    }
  } else if (op == "link") {
    if (auto next = harbor::NextLink(text)) {
      if (next->find('>') != std::string::npos) return "Link target holds '>': " + *next;
      auto base = harbor::ParseUrl("http://127.0.0.1:5000/v2/_catalog?n=10");
      (void)harbor::ResolveUrl(*base, *next);
    }
  } else if (op == "errors") {
    (void)harbor::RegistryErrorText(text);
  } else if (op == "url") {
    auto url = harbor::ParseUrl(text);
    if (!url) return std::nullopt;
    auto again = harbor::ParseUrl(url->Origin() + url->target);
    if (!again || again->scheme != url->scheme || again->host != url->host ||
        again->port != url->port || again->target != url->target) {
      return "ParseUrl does not read back Origin()+target of " + std::string(text.substr(0, 200));
    }
  } else if (op == "reference") {
    (void)harbor::CheckRepository(text);
    (void)harbor::CheckReference(text);
  }
  return std::nullopt;
}

// One client operation against the loopback server; the client is gone when this returns.
Problem RunClientOperation(const std::vector<std::string>& words, const LoopbackServer& server,
                           bool input_has_password) {
  harbor::RegistryConfig config;
  config.url = server.Origin();
  config.kind = words[0] == "harbor" ? harbor::RegistryKind::kHarbor
                                     : harbor::RegistryKind::kDistribution;
  config.credentials = {std::string(kUser), std::string(kPassword)};
  config.insecure = true;
  config.connect_timeout = std::chrono::milliseconds(1000);
  config.request_timeout = std::chrono::milliseconds(1000);
  config.max_retries = 0;  // retries sleep; one answer per request is what is being parsed
  auto registry = harbor::MakeRegistry(config);
  if (!registry) return "MakeRegistry: " + registry.error().message;
  Registry& r = **registry;
  const bool sliced = config.kind == harbor::RegistryKind::kDistribution;

  const std::string op = Word(words, 1);
  if (op == "projects") {
    const RegistryPage page{Number(words, 3, 1), Number(words, 4, 10)};
    return CheckPaged(r.ListProjects(Word(words, 2), page), page.page_size, sliced,
                      input_has_password);
  }
  if (op == "repositories") {
    const RegistryPage page{Number(words, 4, 1), Number(words, 5, 10)};
    return CheckPaged(r.ListRepositories(Number(words, 2, 1), Word(words, 3), page),
                      page.page_size, sliced, input_has_password);
  }
  if (op == "tags") {
    const RegistryPage page{Number(words, 3, 1), Number(words, 4, 10)};
    // Both clients read every tag and cut the page themselves.
    return CheckPaged(r.ListTags(Word(words, 2), page), page.page_size, true, input_has_password);
  }
  if (op == "manifest") {
    auto manifest = r.GetManifest(Word(words, 2), Word(words, 3));
    if (!manifest) return CheckError(manifest.error(), input_has_password);
    if (manifest->digest.empty()) return std::string("a manifest without a digest");
    return std::nullopt;
  }
  if (op == "delete") {
    auto deleted = r.DeleteTag(Word(words, 2), Word(words, 3), Word(words, 4) == "force");
    if (!deleted) return CheckError(deleted.error(), input_has_password);
    return std::nullopt;
  }
  if (op == "ensure") {
    auto ensured = r.EnsureProject(Word(words, 2));
    if (!ensured) return CheckError(ensured.error(), input_has_password);
    return std::nullopt;
  }
  if (op == "ping") {
    auto pinged = r.Ping();
    if (!pinged) return CheckError(pinged.error(), input_has_password);
  }
  return std::nullopt;
}

}  // namespace

Problem CheckRegistryParsing(std::string_view input) {
  auto [op_line, text] = SplitLine(input);
  const std::vector<std::string> words = Words(op_line);
  if (words.empty()) return std::nullopt;
  if (words[0] != "harbor" && words[0] != "distribution") return CheckHelpers(words[0], text);

  // Only the loopback server may be contacted: no other hosts, no name lookups.
  if (input.find("//") != std::string_view::npos) return std::nullopt;
  // A message may quote what the caller or the registry sent: the password (or its Basic form)
  // in the input may show again. Anything else the client adds must never show it.
  const bool input_has_password =
      input.find("Secret9") != std::string_view::npos ||
      input.find(Base64Encode(std::string(kUser) + ":" + std::string(kPassword))) !=
          std::string_view::npos;
  LoopbackServer& server = Server();
  std::string responses(text);
  for (auto at = responses.find("{origin}"); at != std::string::npos;
       at = responses.find("{origin}", at)) {
    responses.replace(at, 8, server.Origin());
    at += server.Origin().size();
  }
  std::vector<LoopbackServer::Answer> answers;
  std::string_view rest = responses;
  while (!rest.empty() && answers.size() < kMaxAnswers) {
    const auto separator = rest.find("\n---\n");
    answers.push_back(MakeAnswer(rest.substr(0, separator)));
    rest = separator == std::string_view::npos ? std::string_view{} : rest.substr(separator + 5);
  }
  server.SetAnswers(std::move(answers));
  const Problem problem = RunClientOperation(words, server, input_has_password);
  if (!server.WaitForConnectionsClosed(std::chrono::seconds(10))) {
    return std::string("a connection to the registry stayed open after its client was destroyed");
  }
  return problem;
}

}  // namespace market::fuzz
