#pragma once
// What both registry kinds share: authenticated calls (basic auth on every request, the bearer
// token flow of the /v2/ API), error mapping to market::Errc, name checks, Link paging, and
// fetching manifests and config blobs through the distribution API.

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/harbor_client/http_client.hpp"
#include "market/registry.hpp"

namespace market::harbor {

class RegistryHttp {
 public:
  RegistryHttp(std::unique_ptr<HttpClient> client, Url base, RegistryCredentials credentials);

  // `target` is an origin-form path on the registry ("/v2/_catalog?n=100"). Basic auth goes on
  // every request unless a bearer token is known for it; a 401 with a Bearer challenge leads to
  // one token request and one repetition. Transport errors come back prefixed with "registry: ".
  Result<HttpResponse> Send(std::string_view method, std::string target,
                            std::vector<HttpHeader> headers = {}, std::string body = {});
  // Same for an absolute URL (Location or Link targets); credentials go only to the registry's
  // own origin.
  Result<HttpResponse> SendUrl(std::string_view method, const Url& url,
                               std::vector<HttpHeader> headers = {}, std::string body = {});

  const Url& base() const { return base_; }
  const RegistryCredentials& credentials() const { return credentials_; }
  // Removes the password from text that is about to leave the client.
  std::string Redact(std::string text) const;
  // The mapped error of a non-success answer. `what` says what was attempted ("listing tags of
  // base/app"), `missing` what a 404 means ("repository base/app not found").
  Error StatusError(const HttpResponse& response, std::string_view what,
                    std::string_view missing) const;

 private:
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expiry;
  };
  Result<Token> FetchToken(const std::string& challenge);
  std::optional<std::string> CachedToken(const std::string& key);

  std::unique_ptr<HttpClient> client_;
  Url base_;
  RegistryCredentials credentials_;
  std::mutex mutex_;
  std::map<std::string, Token> tokens_;          // by scope
  std::map<std::string, std::string> scope_of_;  // request key -> scope last challenged
};

// Parses `Bearer realm="...",service="...",scope="..."` (any order, quoted or not).
std::map<std::string, std::string> ParseChallenge(std::string_view header);
// The target of rel="next" in a Link header, if any.
std::optional<std::string> NextLink(std::string_view link_header);
// The first `errors[].message` of a registry error body (both Harbor and distribution use it).
std::string RegistryErrorText(std::string_view body);
// An OCI content digest: "sha256:" and the hex SHA-256 of `data`.
std::string Sha256Digest(std::string_view data);

// OCI names: "<component>(/<component>)*", each [a-z0-9]+([._-]|__|-+)[a-z0-9]+...
Result<void> CheckRepository(std::string_view repository);
// A tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) or a digest (algorithm:hex).
Result<void> CheckReference(std::string_view reference);
Result<void> CheckTag(std::string_view tag);
// A content digest (algorithm:hex), named `digest` in the error.
Result<void> CheckDigest(std::string_view digest);
Result<void> CheckPage(RegistryPage page);

template <class T>
Paged<T> Slice(std::vector<T> all, RegistryPage page) {
  Paged<T> out;
  out.total_count = static_cast<std::int64_t>(all.size());
  const std::size_t begin = static_cast<std::size_t>(page.page - 1) * page.page_size;
  for (std::size_t i = begin; i < all.size() && i < begin + page.page_size; ++i) {
    out.items.push_back(std::move(all[i]));
  }
  return out;
}

// The Accept list for manifests: OCI and Docker v2, images and indexes.
extern const char* const kManifestAccept;

struct ManifestInfo {
  RegistryManifest manifest;
  std::int64_t size = 0;  // manifest + config + layers (image), or + the listed manifests (index)
  std::string config_digest;
};

// GET /v2/<name>/manifests/<ref>; with `with_config` also the config blob.
Result<ManifestInfo> FetchManifest(RegistryHttp& http, std::string_view repository,
                                   std::string_view reference, bool with_config);
// HEAD /v2/<name>/manifests/<ref> -> the digest.
Result<std::string> FetchDigest(RegistryHttp& http, std::string_view repository,
                                std::string_view reference);

}  // namespace market::harbor
