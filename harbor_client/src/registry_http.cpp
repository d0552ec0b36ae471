#include "registry_http.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <regex>

#include "base64.hpp"
#include "log.hpp"
#include "sha256.hpp"

namespace market::harbor {

namespace {

using Clock = std::chrono::steady_clock;

bool IStartsWith(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

// Which cached scope a request may use: tokens are per repository and action, so requests are
// grouped the same way ("pull" for reads, the method otherwise).
std::string RequestKey(std::string_view method, std::string_view target) {
  const std::string action = (method == "GET" || method == "HEAD") ? "pull" : std::string(method);
  std::string_view path = target.substr(0, target.find('?'));
  if (path.starts_with("/v2/")) {
    std::string_view rest = path.substr(4);
    for (std::string_view kind : {"/manifests/", "/blobs/", "/tags/"}) {
      const auto at = rest.find(kind);
      if (at != std::string_view::npos) return action + " " + std::string(rest.substr(0, at));
    }
  }
  return action + " " + std::string(path);
}

}  // namespace

const char* const kManifestAccept =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

RegistryHttp::RegistryHttp(std::unique_ptr<HttpClient> client, Url base,
                           RegistryCredentials credentials)
    : client_(std::move(client)), base_(std::move(base)), credentials_(std::move(credentials)) {}

// The password, and the Basic credentials that carry it (a registry's error page may echo the
// request's Authorization header back), never reach a message.
std::string RegistryHttp::Redact(std::string text) const {
  const std::string& password = credentials_.password;
  if (password.size() < 4) return text;  // too short to tell apart from ordinary words
  for (const std::string& secret :
       {Base64Encode(credentials_.username + ":" + password), password}) {
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

std::optional<std::string> RegistryHttp::CachedToken(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto scope = scope_of_.find(key);
  if (scope == scope_of_.end()) return std::nullopt;
  auto token = tokens_.find(scope->second);
  if (token == tokens_.end() || token->second.expiry <= Clock::now()) return std::nullopt;
  return token->second.value;
}

Result<RegistryHttp::Token> RegistryHttp::FetchToken(const std::string& challenge_header) {
  auto challenge = ParseChallenge(challenge_header);
  auto realm = ResolveUrl(base_, challenge["realm"]);
  if (challenge["realm"].empty() || !realm) {
    return Fail(Errc::kUpstreamFailed, "registry: bearer challenge without a usable realm");
  }
  std::string query;
  if (!challenge["service"].empty()) query += "service=" + PercentEncode(challenge["service"]);
  if (!challenge["scope"].empty()) {
    query += (query.empty() ? "" : "&") + std::string("scope=") + PercentEncode(challenge["scope"]);
  }
  if (!query.empty()) {
    realm->target += (realm->target.find('?') == std::string::npos ? "?" : "&") + query;
  }
  HttpRequest request{"GET", *realm, {}, {}};
  if (!credentials_.username.empty()) {
    request.headers.push_back(
        {"Authorization",
         "Basic " + Base64Encode(credentials_.username + ":" + credentials_.password)});
  }
  auto response = client_->Send(request);
  if (!response) {
    return Fail(response.error().code,
                Redact("registry token service: " + response.error().message));
  }
  if (response->status != 200) {
    return std::unexpected(StatusError(*response, "getting a token", "token service not found"));
  }
  auto json = nlohmann::json::parse(response->body, nullptr, false);
  if (!json.is_object()) return Fail(Errc::kUpstreamFailed, "registry: token answer is not JSON");
  Token token;
  if (json.contains("token") && json["token"].is_string()) token.value = json["token"];
  if (token.value.empty() && json.contains("access_token") && json["access_token"].is_string()) {
    token.value = json["access_token"];
  }
  if (token.value.empty())
    return Fail(Errc::kUpstreamFailed, "registry: token answer has no token");
  long long seconds = 60;  // the distribution spec's default lifetime
  if (json.contains("expires_in") && json["expires_in"].is_number_integer()) {
    seconds = std::max<long long>(json["expires_in"].get<long long>(), 1);
  }
  // Renew a little early so a token does not expire on its way to the registry.
  const long long margin = std::min<long long>(10, seconds / 10);
  token.expiry = Clock::now() + std::chrono::seconds(seconds - margin);
  {
    std::lock_guard lock(mutex_);
    tokens_[challenge["scope"]] = token;
  }
  MARKET_LOG_DEBUG("registry: got a bearer token for scope '{}'", challenge["scope"]);
  return token;
}

Result<HttpResponse> RegistryHttp::Send(std::string_view method, std::string target,
                                        std::vector<HttpHeader> headers, std::string body) {
  Url url = base_;
  url.target = std::move(target);
  return SendUrl(method, url, std::move(headers), std::move(body));
}

Result<HttpResponse> RegistryHttp::SendUrl(std::string_view method, const Url& url,
                                           std::vector<HttpHeader> headers, std::string body) {
  const bool own_origin = url.Origin() == base_.Origin();
  const std::string key = RequestKey(method, url.target);
  HttpRequest request{std::string(method), url, std::move(headers), std::move(body)};
  const auto basic =
      credentials_.username.empty()
          ? std::optional<std::string>()
          : "Basic " + Base64Encode(credentials_.username + ":" + credentials_.password);
  auto with_auth = [&](const std::optional<std::string>& bearer) {
    HttpRequest copy = request;
    if (!own_origin) return copy;
    if (bearer) {
      copy.headers.push_back({"Authorization", "Bearer " + *bearer});
    } else if (basic) {
      copy.headers.push_back({"Authorization", *basic});
    }
    return copy;
  };
  auto response = client_->Send(with_auth(CachedToken(key)));
  if (!response)
    return Fail(response.error().code, Redact("registry: " + response.error().message));
  if (response->status != 401 || !own_origin) return response;
  const auto challenge = response->Header("WWW-Authenticate");
  if (!challenge || !IStartsWith(*challenge, "Bearer")) return response;
  MARKET_ASSIGN_OR_RETURN(auto token, FetchToken(*challenge));
  {
    std::lock_guard lock(mutex_);
    scope_of_[key] = ParseChallenge(*challenge)["scope"];
  }
  response = client_->Send(with_auth(token.value));
  if (!response)
    return Fail(response.error().code, Redact("registry: " + response.error().message));
  return response;
}

Error RegistryHttp::StatusError(const HttpResponse& response, std::string_view what,
                                std::string_view missing) const {
  const std::string detail = RegistryErrorText(response.body);
  const std::string suffix = detail.empty() ? "" : ": " + detail;
  const std::string status = std::to_string(response.status);
  std::string message;
  Errc code = Errc::kUpstreamFailed;
  switch (response.status) {
    case 404:
      code = Errc::kNotFound;
      message = "registry: " + std::string(missing);
      break;
    case 401: {
      // Harbor's /v2/ answers 401 with an empty challenge when it cannot even look at the
      // repository's project ("project team not found"), and with Basic realm="harbor" both for
      // wrong credentials and for a missing permission; its message tells which.
      const auto challenge = response.Header("WWW-Authenticate");
      std::string lower = detail;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (challenge && challenge->empty() && !detail.empty()) {
        const bool missing_project = lower.ends_with(" not found");
        code = missing_project ? Errc::kNotFound : Errc::kUpstreamFailed;
        message = missing_project ? "registry: " + std::string(missing) + " (" + detail + ")"
                                  : "registry: " + std::string(what) + " failed (401)" + suffix;
      } else if (lower.find("unauthorized to ") != std::string::npos) {
        message = "registry refused " + std::string(what) + " (401)" + suffix +
                  ": wrong credentials, or an account without that permission";
      } else {
        message = "registry rejected the credentials (401) while " + std::string(what);
      }
      break;
    }
    case 403:
      message = "registry: " + std::string(what) + " is forbidden (403)" + suffix;
      break;
    default:
      message = "registry: " + std::string(what) + " failed: HTTP " + status + suffix;
  }
  return Error{code, Redact(std::move(message))};
}

std::map<std::string, std::string> ParseChallenge(std::string_view header) {
  std::map<std::string, std::string> out;
  const auto space = header.find(' ');
  if (space == std::string_view::npos) return out;
  std::string_view rest = header.substr(space + 1);
  std::size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == ',')) ++i;
    const auto eq = rest.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string name(rest.substr(i, eq - i));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    i = eq + 1;
    std::string value;
    if (i < rest.size() && rest[i] == '"') {
      ++i;
      while (i < rest.size() && rest[i] != '"') {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value.push_back(rest[i++]);
      }
      ++i;  // closing quote
    } else {
      while (i < rest.size() && rest[i] != ',') value.push_back(rest[i++]);
    }
    out[name] = value;
  }
  return out;
}

std::optional<std::string> NextLink(std::string_view header) {
  std::size_t i = 0;
  while (i < header.size()) {
    const auto open = header.find('<', i);
    if (open == std::string_view::npos) return std::nullopt;
    const auto close = header.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    const auto next_entry = header.find('<', close);
    std::string_view params =
        header.substr(close + 1, next_entry == std::string_view::npos ? std::string_view::npos
                                                                      : next_entry - close - 1);
    // std::regex recurses per character: bound what an upstream header can make it walk.
    if (params.size() > 1024) params = params.substr(0, 1024);
    static const std::regex kRel(R"re(rel\s*=\s*("([^"]*)"|([^;,\s]*)))re", std::regex::icase);
    std::match_results<std::string_view::const_iterator> m;
    if (std::regex_search(params.begin(), params.end(), m, kRel)) {
      const std::string rels = m[2].matched ? m[2].str() : m[3].str();
      static const std::regex kNextWord(R"((^|\s)next(\s|$))", std::regex::icase);
      if (std::regex_search(rels, kNextWord)) {
        return std::string(header.substr(open + 1, close - open - 1));
      }
    }
    i = close + 1;
  }
  return std::nullopt;
}

std::string RegistryErrorText(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object() || !json.contains("errors") || !json["errors"].is_array() ||
      json["errors"].empty()) {
    return {};
  }
  const auto& first = json["errors"][0];
  std::string text;
  if (first.contains("code") && first["code"].is_string()) text = first["code"].get<std::string>();
  if (first.contains("message") && first["message"].is_string()) {
    text += (text.empty() ? "" : " ") + first["message"].get<std::string>();
  }
  if (text.size() > 300) text.resize(300);
  return text;
}

std::string Sha256Digest(std::string_view data) { return "sha256:" + Sha256Hex(data); }

Result<void> CheckRepository(std::string_view repository) {
  static const std::regex kName(
      "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*");
  if (repository.empty() || repository.size() > 255 ||
      !std::regex_match(repository.begin(), repository.end(), kName)) {
    return Fail(Errc::kInvalid, "repository: not a valid repository name: " +
                                    std::string(repository.substr(0, 300)));
  }
  return {};
}

Result<void> CheckTag(std::string_view tag) {
  static const std::regex kTag("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  if (tag.size() > 128 || !std::regex_match(tag.begin(), tag.end(), kTag)) {
    return Fail(Errc::kInvalid, "tag: not a valid tag: " + std::string(tag.substr(0, 300)));
  }
  return {};
}

Result<void> CheckDigest(std::string_view digest) {
  static const std::regex kDigest("[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}");
  // std::regex recurses per character, so an unbounded input could exhaust the stack.
  if (digest.size() <= 256 && std::regex_match(digest.begin(), digest.end(), kDigest)) return {};
  return Fail(Errc::kInvalid, "digest: not a valid digest: " + std::string(digest.substr(0, 300)));
}

Result<void> CheckReference(std::string_view reference) {
  if (CheckDigest(reference)) return {};
  if (CheckTag(reference)) return {};
  return Fail(Errc::kInvalid,
              "reference: not a tag or digest: " + std::string(reference.substr(0, 300)));
}

Result<void> CheckPage(RegistryPage page) {
  if (page.page < 1) return Fail(Errc::kInvalid, "page: must be 1 or more");
  if (page.page_size < 1 || page.page_size > 100) {
    return Fail(Errc::kInvalid, "page_size: must be from 1 to 100");
  }
  return {};
}

namespace {

// GET that follows a blob redirect (storage back ends hand out 307s to their own URLs).
Result<HttpResponse> GetFollowing(RegistryHttp& http, std::string target,
                                  std::vector<HttpHeader> headers) {
  auto response = http.Send("GET", target, headers);
  Url current = http.base();
  current.target = target;
  for (int hops = 0; response && hops < 5; ++hops) {
    const int s = response->status;
    if (s != 301 && s != 302 && s != 303 && s != 307 && s != 308) break;
    const auto location = response->Header("Location");
    if (!location) break;
    auto next = ResolveUrl(current, *location);
    if (!next) return Fail(Errc::kUpstreamFailed, "registry: bad redirect " + next.error().message);
    current = *next;
    response = http.SendUrl("GET", current, headers);
  }
  return response;
}

std::int64_t SizeOf(const nlohmann::json& descriptor) {
  if (descriptor.is_object() && descriptor.contains("size") &&
      descriptor["size"].is_number_integer()) {
    return descriptor["size"].get<std::int64_t>();
  }
  return 0;
}

}  // namespace

Result<ManifestInfo> FetchManifest(RegistryHttp& http, std::string_view repository,
                                   std::string_view reference, bool with_config) {
  MARKET_RETURN_IF_ERROR(CheckRepository(repository));
  MARKET_RETURN_IF_ERROR(CheckReference(reference));
  const std::string name(repository);
  const std::string ref(reference);
  auto response =
      http.Send("GET", "/v2/" + name + "/manifests/" + ref, {{"Accept", kManifestAccept}});
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) {
    return std::unexpected(http.StatusError(*response, "reading manifest " + name + ":" + ref,
                                            "manifest " + name + ":" + ref + " not found"));
  }
  ManifestInfo info;
  // Harbor counts the manifest itself too (controller/artifact/manifest/v2.go, index.go).
  info.size = static_cast<std::int64_t>(response->body.size());
  info.manifest.manifest_json = response->body;
  info.manifest.digest = response->Header("Docker-Content-Digest").value_or("");
  if (info.manifest.digest.empty()) info.manifest.digest = Sha256Digest(response->body);
  auto json = nlohmann::json::parse(response->body, nullptr, false);
  if (!json.is_object()) {
    return Fail(Errc::kUpstreamFailed, "registry: manifest " + name + ":" + ref + " is not JSON");
  }
  if (json.contains("mediaType") && json["mediaType"].is_string()) {
    info.manifest.media_type = json["mediaType"];
  } else {
    auto type = response->Header("Content-Type").value_or("");
    info.manifest.media_type = type.substr(0, type.find(';'));
  }
  if (json.contains("manifests") && json["manifests"].is_array()) {
    for (const auto& m : json["manifests"]) info.size += SizeOf(m);
    return info;  // an index has no config of its own
  }
  if (json.contains("config")) {
    info.size += SizeOf(json["config"]);
    if (json["config"].is_object() && json["config"].contains("digest") &&
        json["config"]["digest"].is_string()) {
      info.config_digest = json["config"]["digest"];
    }
  }
  if (json.contains("layers") && json["layers"].is_array()) {
    for (const auto& layer : json["layers"]) info.size += SizeOf(layer);
  }
  if (with_config && !info.config_digest.empty()) {
    if (auto ok = CheckReference(info.config_digest); !ok) {
      return Fail(Errc::kUpstreamFailed, "registry: manifest has a bad config digest");
    }
    auto blob = GetFollowing(http, "/v2/" + name + "/blobs/" + info.config_digest, {});
    if (!blob) return std::unexpected(blob.error());
    if (blob->status != 200) {
      return std::unexpected(
          http.StatusError(*blob, "reading the config of " + name + ":" + ref,
                           "config blob " + info.config_digest + " of " + name + " not found"));
    }
    info.manifest.config_json = std::move(blob->body);
  }
  return info;
}

Result<std::string> FetchDigest(RegistryHttp& http, std::string_view repository,
                                std::string_view reference) {
  MARKET_RETURN_IF_ERROR(CheckRepository(repository));
  MARKET_RETURN_IF_ERROR(CheckReference(reference));
  const std::string name(repository);
  const std::string ref(reference);
  auto response =
      http.Send("HEAD", "/v2/" + name + "/manifests/" + ref, {{"Accept", kManifestAccept}});
  if (!response) return std::unexpected(response.error());
  if (response->status != 200) {
    return std::unexpected(
        http.StatusError(*response, "reading manifest " + name + ":" + ref,
                         "tag " + ref + " of repository " + name + " not found"));
  }
  auto digest = response->Header("Docker-Content-Digest");
  if (digest && !digest->empty()) return *digest;
  // Without the header only the body tells: hash what GET serves.
  MARKET_ASSIGN_OR_RETURN(auto full, FetchManifest(http, repository, reference, false));
  return full.manifest.digest;
}

}  // namespace market::harbor
