#include "buildah/deferred_image_remover.hpp"

#include <utility>

namespace market {

DeferredImageRemover::DeferredImageRemover(RemoveFn remove,
                                           std::chrono::milliseconds quiet_period,
                                           std::size_t max_pending, TrimFn trim)
    : remove_(std::move(remove)),
      trim_(std::move(trim)),
      quiet_period_(quiet_period),
      max_pending_(max_pending < 1 ? 1 : max_pending),
      thread_([this](std::stop_token stop) { Loop(stop); }) {}

DeferredImageRemover::~DeferredImageRemover() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  if (!pending_.empty()) remove_(pending_);
}

void DeferredImageRemover::BuildStarted() {
  {
    std::lock_guard lock(mu_);
    ++active_;
    ++generation_;
  }
  changed_.notify_all();
}

void DeferredImageRemover::BuildEnded(const std::string& image) {
  {
    std::lock_guard lock(mu_);
    if (active_ > 0) --active_;
    last_end_ = std::chrono::steady_clock::now();
    if (!image.empty()) pending_.push_back(image);
    ++generation_;
  }
  changed_.notify_all();
}

void DeferredImageRemover::RequestTrim() {
  if (!trim_) return;
  {
    std::lock_guard lock(mu_);
    trim_requested_ = true;
    ++generation_;
  }
  changed_.notify_all();
}

bool DeferredImageRemover::DueLocked(std::chrono::steady_clock::time_point now) const {
  const bool quiet = active_ == 0 && now - last_end_ >= quiet_period_;
  if (trim_requested_ && quiet) return true;
  if (pending_.empty()) return false;
  if (pending_.size() >= max_pending_) return true;
  return quiet;
}

void DeferredImageRemover::Loop(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    if (DueLocked(std::chrono::steady_clock::now())) {
      std::vector<std::string> batch;
      batch.swap(pending_);
      const bool trim = trim_requested_ && active_ == 0;
      if (trim) trim_requested_ = false;
      lock.unlock();
      if (!batch.empty()) remove_(batch);
      if (trim) trim_();
      lock.lock();
      continue;
    }
    const std::uint64_t seen = generation_;
    auto changed = [&] { return generation_ != seen; };
    if ((!pending_.empty() || trim_requested_) && active_ == 0) {
      // Idle with images waiting: due once the quiet period after the last build has passed.
      changed_.wait_until(lock, stop, last_end_ + quiet_period_, changed);
    } else {
      changed_.wait(lock, stop, changed);
    }
  }
}

}  // namespace market
