#pragma once
// Removes pushed images from the builder's local storage off the build's critical path, and
// trims the local layer cache when no build runs.
//
// A pushed image only takes disk space locally, but `buildah rmi` on vfs storage deletes whole
// root file systems and holds the storage lock while it does, so running it after every push
// makes the next build wait. Images are queued here and removed in one batch once no build has
// run for a quiet period, or at once when too many are waiting (bounding the disk they hold).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace market {

class DeferredImageRemover {
 public:
  using RemoveFn = std::function<void(const std::vector<std::string>& images)>;
  using TrimFn = std::function<void()>;

  // `trim` (optional) runs after RequestTrim once no build has run for the quiet period: never
  // under a running build, whose steps may be reusing the images it would remove.
  DeferredImageRemover(RemoveFn remove, std::chrono::milliseconds quiet_period,
                       std::size_t max_pending, TrimFn trim = {});
  // Removes whatever is still waiting before it returns.
  ~DeferredImageRemover();
  DeferredImageRemover(const DeferredImageRemover&) = delete;
  DeferredImageRemover& operator=(const DeferredImageRemover&) = delete;

  void BuildStarted();
  // `image` (when not empty) is queued for removal.
  void BuildEnded(const std::string& image);
  // The local layer cache may have grown: trim it at the next quiet moment.
  void RequestTrim();

 private:
  void Loop(std::stop_token stop);
  bool DueLocked(std::chrono::steady_clock::time_point now) const;

  RemoveFn remove_;
  TrimFn trim_;
  const std::chrono::milliseconds quiet_period_;
  const std::size_t max_pending_;
  std::mutex mu_;
  std::condition_variable_any changed_;
  std::vector<std::string> pending_;
  bool trim_requested_ = false;
  int active_ = 0;
  std::uint64_t generation_ = 0;  // bumped on every change, so the thread re-checks
  std::chrono::steady_clock::time_point last_end_{};
  std::jthread thread_;  // last: it starts after the members it reads exist
};

}  // namespace market
