#pragma once
// The default ImageBuilder: daemonless `buildah bud` + `buildah push`.

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
};

ImageBuilderPtr MakeBuildahBuilder(BuildahOptions options);

}  // namespace market
