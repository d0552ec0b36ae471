#include "buildah/local_layer_cache.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>

#include "support/test_env.hpp"

namespace market {
namespace {

// A storage of images with sizes; removing an image frees its bytes.
struct FakeStorage {
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> images;  // id -> created, bytes
  std::vector<std::vector<std::string>> removals;

  LocalLayerCache::Storage Storage() {
    return {[this] {
              std::vector<LocalLayerCache::Image> out;
              for (const auto& [id, image] : images) out.push_back({id, image.first});
              return out;
            },
            [this](const std::vector<std::string>& ids) {
              removals.push_back(ids);
              for (const auto& id : ids) images.erase(id);
            },
            [this] {
              std::int64_t total = 0;
              for (const auto& [id, image] : images) total += image.second;
              return total;
            }};
  }
};

std::string Id(char c) { return std::string(64, c); }
// The i-th of a chain of hex ids.
std::string ChainId(int i) {
  const char* digits = "0123456789abcdef";
  return std::string(62, 'e') + digits[i / 16] + digits[i % 16];
}

TEST_CASE("LocalLayerCache removes nothing within its bound", "[build][cache]") {
  FakeStorage storage;
  storage.images[Id('a')] = {100, 40};
  storage.images[Id('b')] = {200, 50};
  LocalLayerCache cache(storage.Storage(), 100);
  auto outcome = cache.Trim();
  CHECK(outcome.removed == 0);
  CHECK(outcome.bytes_before == 90);
  CHECK(storage.removals.empty());
}

TEST_CASE("LocalLayerCache removes the least recently used first, down to 90%", "[build][cache]") {
  FakeStorage storage;
  // Made in the order a, b, c, d; a and d used by the latest build (by short and full id).
  storage.images[Id('a')] = {100, 30};
  storage.images[Id('b')] = {200, 30};
  storage.images[Id('c')] = {300, 30};
  storage.images[Id('d')] = {400, 30};
  LocalLayerCache cache(storage.Storage(), 100);
  cache.Touch({Id('a').substr(0, 11), Id('d')}, 1000);
  auto outcome = cache.Trim();
  CHECK(outcome.bytes_before == 120);
  CHECK(outcome.bytes_after == 90);
  // b is the least recently used (made before c, neither used since): it alone goes, and the
  // storage is within 90% of the bound again.
  REQUIRE(storage.removals.size() == 1);
  CHECK(storage.removals.front() == std::vector<std::string>{Id('b')});
  CHECK(storage.images.count(Id('a')) == 1);
  CHECK(storage.images.count(Id('c')) == 1);
  CHECK(storage.images.count(Id('d')) == 1);
  CHECK(outcome.removed == 1);
}

TEST_CASE("LocalLayerCache removes a chain's child before its parent", "[build][cache]") {
  FakeStorage storage;
  for (int i = 0; i < 20; ++i) storage.images[ChainId(i)] = {100 + i, 10};
  LocalLayerCache cache(storage.Storage(), 100);
  // All used together by one build: the newest made goes first.
  std::vector<std::string> all;
  for (int i = 0; i < 20; ++i) all.push_back(ChainId(i));
  cache.Touch(all, 1000);
  auto outcome = cache.Trim();
  CHECK(outcome.bytes_after <= 90);
  REQUIRE_FALSE(storage.removals.empty());
  CHECK(storage.removals.front().front() == ChainId(19));  // the last made
  CHECK(storage.images.count(ChainId(0)) == 1);            // the first made stays longest
}

TEST_CASE("LocalLayerCache: a noCache build's steps supersede its project's earlier ones",
          "[build][cache]") {
  FakeStorage storage;
  LocalLayerCache cache(storage.Storage(), 100);
  // Builds of one project record their steps (short ids and full ones alike).
  CHECK(cache.Record("reg/c/app/buildcache", {Id('a'), "bbbbbbbbbbb"}, false).empty());
  CHECK(cache.Record("reg/c/app/buildcache", {"ccccccccccc"}, false).empty());
  CHECK(cache.Record("reg/c/other/buildcache", {"fffffffffff"}, false).empty());
  // A refresh made d and reused a: b and c are superseded; the other project's f is not.
  auto superseded = cache.Record("reg/c/app/buildcache", {"aaaaaaaaaaa", Id('d')}, true);
  std::sort(superseded.begin(), superseded.end());
  CHECK(superseded == std::vector<std::string>{"bbbbbbbbbbb", "ccccccccccc"});
  // What it recorded is the project's steps now.
  CHECK(cache.Record("reg/c/app/buildcache", {Id('a'), Id('d')}, true).empty());
}

TEST_CASE("LocalLayerCache with no bound never removes", "[build][cache]") {
  FakeStorage storage;
  storage.images[Id('a')] = {100, 1LL << 40};
  LocalLayerCache cache(storage.Storage(), 0);
  CHECK(cache.Trim().removed == 0);
  CHECK(storage.removals.empty());
}

TEST_CASE("LocalLayerCache reads the images a bud names", "[build][cache]") {
  CHECK(LocalLayerCache::ImageOfBudLine("--> Using cache " + Id('a')) == Id('a'));
  CHECK(LocalLayerCache::ImageOfBudLine("--> 6cc4ee25498") == "6cc4ee25498");
  CHECK(LocalLayerCache::ImageOfBudLine(Id('b') + "\n") == Id('b'));
  CHECK_FALSE(LocalLayerCache::ImageOfBudLine("--> Pushing cache host/x:" + Id('c')));
  CHECK_FALSE(LocalLayerCache::ImageOfBudLine("STEP 2/4: RUN echo 6cc4ee25498"));
  CHECK_FALSE(LocalLayerCache::ImageOfBudLine("--> 6cc4"));
  CHECK_FALSE(LocalLayerCache::ImageOfBudLine("--> Xcc4ee25498"));
}

TEST_CASE("DiskBytes counts allocated blocks, a hard link once", "[build][cache]") {
  market::testing::TempDir dir;
  const std::string data(100000, 'x');
  std::ofstream(dir.path() / "a") << data;
  std::filesystem::create_directories(dir.path() / "sub");
  std::ofstream(dir.path() / "sub" / "b") << data;
  const std::int64_t two = DiskBytes(dir.path());
  CHECK(two >= 200000);
  std::filesystem::create_hard_link(dir.path() / "a", dir.path() / "sub" / "a-again");
  CHECK(DiskBytes(dir.path()) < two + 4096 * 2);  // the link adds no data blocks
  CHECK(DiskBytes(dir.path() / "missing") == 0);
}

}  // namespace
}  // namespace market
