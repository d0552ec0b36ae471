// Which storage driver the builder's storage uses: the kernel's overlay where this host allows
// it, else fuse-overlayfs, else vfs (which copies the whole root file system for every
// committed step). Each is tried by mounting a probe on the file system the storage lives on:
// overlay cannot stack on some file systems (an overlayfs root, some network file systems) and
// a container may lack the capability or /dev/fuse.

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "market/buildah_builder.hpp"
#include "process/process.hpp"

namespace market {

namespace fs = std::filesystem;

namespace {

struct ProbeDirs {
  fs::path lower, upper, work, merged;
};

Result<ProbeDirs> MakeProbeDirs(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  ProbeDirs dirs{dir / "lower", dir / "upper", dir / "work", dir / "merged"};
  for (const fs::path* d : {&dirs.lower, &dirs.upper, &dirs.work, &dirs.merged}) {
    fs::create_directories(*d, ec);
    if (ec) {
      return Fail(Errc::kInternal,
                  fmt::format("cannot create the probe folder {}: {}", d->string(), ec.message()));
    }
  }
  return dirs;
}

std::string OverlayData(const ProbeDirs& dirs) {
  return fmt::format("lowerdir={},upperdir={},workdir={}", dirs.lower.string(),
                     dirs.upper.string(), dirs.work.string());
}

// Mounting an overlay and writing through it: what containers/storage's overlay driver needs.
Result<void> ProbeKernelOverlay(const fs::path& dir) {
  MARKET_ASSIGN_OR_RETURN(auto dirs, MakeProbeDirs(dir));
  const std::string data = OverlayData(dirs);
  if (::mount("overlay", dirs.merged.c_str(), "overlay", 0, data.c_str()) != 0) {
    const int error = errno;
    return Fail(Errc::kInternal, fmt::format("mounting an overlay in {} failed: {}{}",
                                             dir.string(), std::strerror(error),
                                             error == EPERM ? " (needs CAP_SYS_ADMIN)" : ""));
  }
  const int fd = ::open((dirs.merged / "probe").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  const int error = errno;
  if (fd >= 0) ::close(fd);
  ::umount2(dirs.merged.c_str(), MNT_DETACH);
  if (fd < 0) {
    return Fail(Errc::kInternal,
                fmt::format("writing through an overlay failed: {}", std::strerror(error)));
  }
  return {};
}

Result<void> ProbeFuseOverlayfs(const fs::path& dir, const std::string& program) {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    return Fail(Errc::kInternal, fmt::format("/dev/fuse cannot be opened: {}", std::strerror(errno)));
  }
  MARKET_ASSIGN_OR_RETURN(auto dirs, MakeProbeDirs(dir));
  process::Spec spec;
  spec.argv = {program, "-o", OverlayData(dirs), dirs.merged.string()};
  spec.timeout = std::chrono::seconds(20);
  auto mounted = process::RunCapture(spec, {}, {});
  if (!mounted || !mounted->outcome.Succeeded()) {
    return Fail(Errc::kInternal,
                fmt::format("{} could not mount a probe: {}", program,
                            mounted ? mounted->outcome.Describe() : mounted.error().message));
  }
  ::umount2(dirs.merged.c_str(), MNT_DETACH);
  return {};
}

StorageDriverChoice Overlay() { return {"overlay", "overlay", {}, {}}; }
StorageDriverChoice FuseOverlay(const std::string& program) {
  return {"fuse-overlayfs", "overlay", {"overlay.mount_program=" + program}, {}};
}
StorageDriverChoice Vfs() { return {"vfs", "vfs", {}, {}}; }

}  // namespace

Result<StorageDriverChoice> ChooseStorageDriver(std::string_view wanted, const fs::path& probe_dir,
                                                const std::string& fuse_overlayfs_path) {
  struct Cleanup {
    const fs::path& dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{probe_dir};
  if (wanted == "vfs") return Vfs();
  if (wanted == "overlay") {
    if (auto ok = ProbeKernelOverlay(probe_dir); !ok) {
      return Fail(Errc::kInternal, "build-storage-driver overlay: " + ok.error().message);
    }
    return Overlay();
  }
  if (wanted == "fuse-overlayfs") {
    if (auto ok = ProbeFuseOverlayfs(probe_dir, fuse_overlayfs_path); !ok) {
      return Fail(Errc::kInternal, "build-storage-driver fuse-overlayfs: " + ok.error().message);
    }
    return FuseOverlay(fuse_overlayfs_path);
  }
  if (wanted != "auto") {
    return Fail(Errc::kInvalid, fmt::format("unknown storage driver {}", wanted));
  }
  auto kernel = ProbeKernelOverlay(probe_dir);
  if (kernel) return Overlay();
  auto fuse = ProbeFuseOverlayfs(probe_dir, fuse_overlayfs_path);
  if (fuse) {
    StorageDriverChoice choice = FuseOverlay(fuse_overlayfs_path);
    choice.reason = "the kernel's overlay cannot be used: " + kernel.error().message;
    return choice;
  }
  StorageDriverChoice choice = Vfs();
  choice.reason = fmt::format("the kernel's overlay cannot be used: {}; fuse-overlayfs cannot be "
                              "used: {}",
                              kernel.error().message, fuse.error().message);
  return choice;
}

}  // namespace market
