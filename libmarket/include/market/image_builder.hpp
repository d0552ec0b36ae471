#pragma once
// Turns a build context and a Dockerfile into an image and pushes it.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "market/error.hpp"
#include "market/registry.hpp"

namespace market {

struct ImageBuildRequest {
  std::filesystem::path context_dir;
  std::filesystem::path dockerfile;  // absolute, or relative to context_dir
  std::string image;                 // <host>/<cluster>/<project>:<tag>
  // The same image pushed under further references (other tags), after `image`.
  std::vector<std::string> extra_images;
  std::string registry_host;         // where to push; credentials apply to it
  RegistryCredentials credentials;   // empty username: anonymous
  bool tls_verify = true;
  // Base image references whose digest the builder should report, as its storage has them
  // after the build pulled them (ImageBuildOutcome::base_digests).
  std::vector<std::string> base_images;

  // Layer caching. kOff: a cold build that keeps none of its steps. kUse: steps this builder's
  // storage or `cache_repository` has are reused, new ones are kept and pushed there. kRefresh
  // (noCache): every step runs again and replaces what the cache held.
  enum class LayerCache { kOff, kUse, kRefresh };
  LayerCache layer_cache = LayerCache::kOff;
  // <host>/<path> (no tag) on `registry_host`, where each step's image is pushed under a key of
  // its inputs and looked for by later builds on any instance; empty: this storage only.
  std::string cache_repository;
};

struct ImageBuildOutcome {
  std::string digest;     // sha256:... of the pushed manifest
  std::int64_t size = 0;  // bytes of config + layers
  // Of ImageBuildRequest::base_images, those the builder knows the digest of: reference ->
  // "sha256:..." (a builder that cannot tell leaves it empty).
  std::map<std::string, std::string> base_digests;
};

using LogLineFn = std::function<void(std::string_view)>;

class ImageBuilder {
 public:
  virtual ~ImageBuilder() = default;
  // Streams output through `log` as it comes; stops early (kInternal "cancelled") when
  // `stop` is requested. Failures are kInternal with the reason.
  virtual Result<ImageBuildOutcome> BuildAndPush(const ImageBuildRequest& request,
                                                 const LogLineFn& log,
                                                 std::stop_token stop) = 0;
};

using ImageBuilderPtr = std::unique_ptr<ImageBuilder>;

}  // namespace market
