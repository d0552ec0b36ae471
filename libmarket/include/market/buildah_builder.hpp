#pragma once
// The default ImageBuilder: daemonless `buildah bud` + `buildah push`.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "market/image_builder.hpp"
#include "market/network_rules.hpp"

namespace market {

struct BuildahOptions {
  std::string buildah_path = "buildah";
  // vfs works everywhere but copies the whole root file system for every committed step;
  // ChooseStorageDriver picks the best this host allows.
  std::string storage_driver = "vfs";
  std::vector<std::string> storage_options;  // --storage-opt each, e.g. overlay.mount_program=
  // "oci": every RUN step in runc, in a network namespace of the build's own whose only way
  // out is slirp4netns and whose routes refuse this host, link-local ranges and `deny_networks`
  // (needs root, runc, slirp4netns and iproute2). "chroot": the host's network, an opt-out
  // each build's log warns about.
  std::string isolation = "oci";
  std::vector<IpRange> deny_networks;
  // Limits of one build's RUN steps (oci only; 0: none). Memory and processes are cgroups the
  // build's steps run below, so a step past them fails the build with a reason naming them.
  std::int64_t memory_bytes = 0;
  int pids = 0;
  double cpus = 0;
  // Registries besides the request's own that pulls may reach without TLS verification.
  std::vector<std::string> insecure_registries;
  std::string ip_path = "ip";
  std::string slirp_path = "slirp4netns";
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
  // What the images of layer-cached builds (every step's result, the bases) may take in `root`:
  // past it the least recently used are removed once no build runs. 0: no bound.
  std::int64_t cache_max_bytes = 10LL << 30;
  // Cached steps older than this are built again (--cache-ttl); 0: no bound.
  std::chrono::hours cache_ttl{0};
};

// The storage driver the builder's storage uses.
struct StorageDriverChoice {
  std::string name;    // overlay, fuse-overlayfs or vfs
  std::string driver;  // buildah's --storage-driver: overlay or vfs
  std::vector<std::string> storage_options;
  std::string reason;  // why not a better one, when `auto` fell back
};

// `wanted`: overlay, fuse-overlayfs, vfs, or auto (the first of those this host allows). Each
// is tried by mounting a probe in `probe_dir`, on the file system the storage will be on (the
// folder is removed again). A driver asked for by name that does not work here is kInternal
// with the reason.
Result<StorageDriverChoice> ChooseStorageDriver(std::string_view wanted,
                                                const std::filesystem::path& probe_dir,
                                                const std::string& fuse_overlayfs_path =
                                                    "fuse-overlayfs");

ImageBuilderPtr MakeBuildahBuilder(BuildahOptions options);

// Whether builds can run in the sandbox `options` asks for on this host: the tools are there and
// a build network and its cgroups can be made (and are removed again). The error says what is
// missing. Always fine for chroot isolation. Removes what a killed server left behind first.
Result<void> CheckBuildahSandbox(const BuildahOptions& options);

}  // namespace market
