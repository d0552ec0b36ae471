#include "buildah/deferred_image_remover.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace market {
namespace {

using namespace std::chrono_literals;

// Records the batches the remover hands out.
class Removed {
 public:
  DeferredImageRemover::RemoveFn Fn() {
    return [this](const std::vector<std::string>& images) {
      std::lock_guard lock(mu_);
      batches_.push_back(images);
    };
  }
  std::vector<std::vector<std::string>> Batches() {
    std::lock_guard lock(mu_);
    return batches_;
  }
  // Waits (generously: this checks that removal happens, not how fast) for `n` batches.
  bool WaitFor(std::size_t n) {
    for (int i = 0; i < 1000; ++i) {
      if (Batches().size() >= n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<std::string>> batches_;
};

TEST_CASE("DeferredImageRemover removes in one batch once the builder is idle", "[build]") {
  Removed removed;
  DeferredImageRemover remover(removed.Fn(), 20ms, 100);
  remover.BuildStarted();
  remover.BuildStarted();
  remover.BuildEnded("r/a:1");
  std::this_thread::sleep_for(100ms);
  CHECK(removed.Batches().empty());  // a build still runs: nothing removed under it
  remover.BuildEnded("r/b:1");
  REQUIRE(removed.WaitFor(1));
  CHECK(removed.Batches().front() == std::vector<std::string>{"r/a:1", "r/b:1"});
}

TEST_CASE("DeferredImageRemover removes at once when too many images wait", "[build]") {
  Removed removed;
  DeferredImageRemover remover(removed.Fn(), std::chrono::hours(1), 2);
  remover.BuildStarted();  // stays running: only the cap can trigger removal
  remover.BuildStarted();
  remover.BuildEnded("r/a:1");
  remover.BuildStarted();
  remover.BuildEnded("r/b:1");
  REQUIRE(removed.WaitFor(1));
  CHECK(removed.Batches().front() == std::vector<std::string>{"r/a:1", "r/b:1"});
}

TEST_CASE("DeferredImageRemover skips builds that left no image", "[build]") {
  Removed removed;
  {
    DeferredImageRemover remover(removed.Fn(), std::chrono::hours(1), 100);
    remover.BuildStarted();
    remover.BuildEnded("");
  }
  CHECK(removed.Batches().empty());
}

TEST_CASE("DeferredImageRemover removes what still waits when it is destroyed", "[build]") {
  Removed removed;
  {
    DeferredImageRemover remover(removed.Fn(), std::chrono::hours(1), 100);
    remover.BuildStarted();
    remover.BuildEnded("r/a:1");
  }
  REQUIRE(removed.Batches().size() == 1);
  CHECK(removed.Batches().front() == std::vector<std::string>{"r/a:1"});
}


TEST_CASE("DeferredImageRemover trims the layer cache only once no build runs", "[build]") {
  Removed removed;
  std::atomic<int> trims{0};
  DeferredImageRemover remover(removed.Fn(), 20ms, 100, [&] { ++trims; });
  remover.BuildStarted();
  remover.BuildStarted();
  remover.BuildEnded("");
  remover.RequestTrim();
  std::this_thread::sleep_for(150ms);
  CHECK(trims == 0);  // a build still runs: its steps may be reusing what a trim would remove
  remover.BuildEnded("");
  for (int i = 0; i < 1000 && trims == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(trims == 1);
  CHECK(removed.Batches().empty());  // nothing was queued for removal
  std::this_thread::sleep_for(100ms);
  CHECK(trims == 1);  // once per request
}

}  // namespace
}  // namespace market
