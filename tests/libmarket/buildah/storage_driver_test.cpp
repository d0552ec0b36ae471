#include <catch2/catch.hpp>

#include "market/buildah_builder.hpp"
#include "support/test_env.hpp"

namespace market {
namespace {

TEST_CASE("ChooseStorageDriver: vfs always, auto the best this host allows", "[build][storage]") {
  market::testing::TempDir dir;
  auto vfs = ChooseStorageDriver("vfs", dir.path() / "probe");
  REQUIRE(vfs);
  CHECK(vfs->driver == "vfs");
  CHECK(vfs->storage_options.empty());

  auto chosen = ChooseStorageDriver("auto", dir.path() / "probe");
  REQUIRE(chosen);
  CHECK((chosen->name == "overlay" || chosen->name == "fuse-overlayfs" || chosen->name == "vfs"));
  // A fall-back says why the better drivers were not taken.
  if (chosen->name != "overlay") CHECK_FALSE(chosen->reason.empty());
  if (chosen->name == "fuse-overlayfs") {
    CHECK(chosen->storage_options.front().starts_with("overlay.mount_program="));
  }
  if (chosen->name == "overlay") CHECK(chosen->reason.empty());
  // The probe leaves nothing behind.
  CHECK_FALSE(std::filesystem::exists(dir.path() / "probe"));
}

TEST_CASE("ChooseStorageDriver: a driver asked for by name that cannot work says why",
          "[build][storage]") {
  market::testing::TempDir dir;
  auto fuse = ChooseStorageDriver("fuse-overlayfs", dir.path() / "probe", "/nonexistent/fuse-overlayfs");
  REQUIRE_FALSE(fuse);
  CHECK_THAT(fuse.error().message, Catch::Contains("build-storage-driver fuse-overlayfs"));
  auto unknown = ChooseStorageDriver("btrfs", dir.path() / "probe");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::kInvalid);
}

}  // namespace
}  // namespace market
