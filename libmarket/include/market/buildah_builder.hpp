#pragma once
// The default ImageBuilder: daemonless `buildah bud` + `buildah push`.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

#include "market/image_builder.hpp"

namespace market {

struct BuildahOptions {
  std::string buildah_path = "buildah";
  std::string storage_driver = "vfs";  // works unprivileged and in containers
  std::string isolation = "chroot";
  // "docker" keeps HEALTHCHECK (the OCI image config has no place for it); "oci" also works.
  std::string format = "docker";
  std::filesystem::path root;     // --root (image storage); empty = buildah's default
  std::filesystem::path runroot;  // --runroot; empty = buildah's default
  // Pushed images are removed from local storage in batches, off the builds' critical path:
  // once no build has run for this long, or at once when this many are waiting (the cap bounds
  // the disk they hold; an `rmi` during a burst makes the builds running then wait: with 8,
  // 20 back-to-back builds took 1.4x direct buildah, with 32 about 1.0x).
  std::chrono::milliseconds cleanup_quiet_period{2000};
  std::size_t cleanup_max_pending = 32;
};

ImageBuilderPtr MakeBuildahBuilder(BuildahOptions options);

}  // namespace market
