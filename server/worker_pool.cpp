#include "worker_pool.hpp"

#include <exception>

#include <spdlog/spdlog.h>

namespace market::server {

WorkerPool::WorkerPool(Options options) : options_(options) {
  const int threads = options_.threads < 1 ? 1 : options_.threads;
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  monitor_thread_ = std::thread([this] { Monitor(); });
}

WorkerPool::~WorkerPool() { Join(); }

void WorkerPool::Post(std::move_only_function<void()> job) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (joined_) return;  // nobody would run it
    queue_.push_back(Job{Clock::now(), std::move(job)});
    // The jobs queued before this one have had a thread woken, or wait for a running one.
    wake = sleeping_ > 0 && running_ + static_cast<int>(queue_.size()) <= options_.eager;
  }
  if (wake) wake_.notify_one();
}

void WorkerPool::Join() {
  {
    std::lock_guard lock(mutex_);
    if (joining_) return;
    joining_ = true;
  }
  wake_.notify_all();
  // A worker leaves once the queue is empty and nothing runs that could post more.
  for (auto& thread : threads_) thread.join();
  {
    std::lock_guard lock(mutex_);
    joined_ = true;
  }
  monitor_.notify_all();
  monitor_thread_.join();
}

void WorkerPool::Work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!queue_.empty()) {
      Job job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      const bool start_monitor = !monitoring_;
      monitoring_ = true;
      lock.unlock();
      if (start_monitor) monitor_.notify_one();
      try {
        job.run();
      } catch (const std::exception& e) {
        spdlog::error("a worker job failed: {}", e.what());
      } catch (...) {
        spdlog::error("a worker job failed with a non-standard exception");
      }
      job.run = nullptr;  // its captures go now, not under the lock
      lock.lock();
      --running_;
      continue;  // the next job, without sleeping
    }
    if (joining_ && running_ == 0) {
      wake_.notify_all();  // the others sleep until the last job ends
      return;
    }
    ++sleeping_;
    wake_.wait(lock);
    --sleeping_;
  }
}

void WorkerPool::Monitor() {
  std::unique_lock lock(mutex_);
  while (!joined_) {
    if (running_ == 0 && queue_.empty()) {
      monitoring_ = false;  // the next job to start wakes the monitor
      monitor_.wait(lock, [this] { return monitoring_ || joined_; });
      continue;
    }
    monitor_.wait_for(lock, options_.overdue);
    const auto now = Clock::now();
    int overdue = 0;
    for (const Job& job : queue_) {
      if (now - job.queued < options_.overdue) break;  // the queue is in posting order
      ++overdue;
    }
    for (int i = 0; i < overdue && i < sleeping_; ++i) wake_.notify_one();
  }
}

}  // namespace market::server
