// WorkerPool: every job runs, Join drains, jobs beyond `eager` still run when the running ones
// are stuck, at most `threads` run at once, and a throwing job does not stop the pool.

#include "worker_pool.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>

using market::server::WorkerPool;
using namespace std::chrono_literals;

namespace {

// A gate jobs wait at until the test opens it.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    --waiting_;
  }
  void Open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // True once `n` jobs wait at the gate together, within `limit`.
  bool AwaitWaiting(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return waiting_ >= n; });
  }
  int waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int waiting_ = 0;
  bool open_ = false;
};

// Counts finished jobs; lets the test wait for a number of them.
class Done {
 public:
  void Add() {
    std::lock_guard lock(mutex_);
    ++count_;
    changed_.notify_all();
  }
  bool AwaitCount(int n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return count_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

// Opens the gate when it goes out of scope, so a failed REQUIRE does not leave the pool's
// Join waiting for jobs stuck at it. Declare it after the pool.
struct OpenOnExit {
  Gate& gate;
  ~OpenOnExit() { gate.Open(); }
};

}  // namespace

TEST_CASE("worker pool: runs every posted job, and Join drains the queue", "[worker_pool]") {
  std::atomic<int> ran{0};
  {
    WorkerPool pool({.threads = 3, .eager = 1});
    for (int i = 0; i < 1000; ++i) pool.Post([&ran] { ++ran; });
    pool.Join();
    CHECK(ran == 1000);
    pool.Post([&ran] { ++ran; });  // after Join: dropped, not run
  }
  CHECK(ran == 1000);
}

TEST_CASE("worker pool: jobs posted by running jobs run before Join returns", "[worker_pool]") {
  std::atomic<int> ran{0};
  WorkerPool pool({.threads = 2, .eager = 2});
  for (int i = 0; i < 10; ++i) {
    pool.Post([&pool, &ran] {
      std::this_thread::sleep_for(1ms);
      pool.Post([&ran] { ++ran; });
    });
  }
  pool.Join();
  CHECK(ran == 10);
}

TEST_CASE("worker pool: stuck jobs do not hold up the others beyond `eager`", "[worker_pool]") {
  // One eager thread, held by a job that waits at the gate: a second job must still run on
  // another thread (the monitor wakes one for the overdue job), not wait for the gate.
  Gate gate;
  Done done;
  WorkerPool pool({.threads = 4, .eager = 1, .overdue = 2ms});
  OpenOnExit opener{gate};
  pool.Post([&] { gate.Wait(); });
  REQUIRE(gate.AwaitWaiting(1, 10s));
  pool.Post([&] { done.Add(); });
  pool.Post([&] { done.Add(); });
  CHECK(done.AwaitCount(2, 10s));
  // Three stuck jobs: the fourth thread still serves.
  pool.Post([&] { gate.Wait(); });
  pool.Post([&] { gate.Wait(); });
  REQUIRE(gate.AwaitWaiting(3, 10s));
  pool.Post([&] { done.Add(); });
  CHECK(done.AwaitCount(3, 10s));
  gate.Open();
  pool.Join();
}

TEST_CASE("worker pool: at most `threads` jobs run at once", "[worker_pool]") {
  Gate gate;
  Done done;
  WorkerPool pool({.threads = 3, .eager = 3, .overdue = 1ms});
  OpenOnExit opener{gate};
  for (int i = 0; i < 6; ++i) {
    pool.Post([&] {
      gate.Wait();
      done.Add();
    });
  }
  REQUIRE(gate.AwaitWaiting(3, 10s));
  // The monitor ticks every millisecond meanwhile; no fourth thread exists to start a job.
  std::this_thread::sleep_for(50ms);
  CHECK(gate.waiting() == 3);
  gate.Open();
  CHECK(done.AwaitCount(6, 10s));
}

TEST_CASE("worker pool: a job that throws does not stop its thread", "[worker_pool]") {
  std::atomic<int> ran{0};
  WorkerPool pool({.threads = 1, .eager = 1});
  pool.Post([] { throw std::runtime_error("job failed"); });
  pool.Post([] { throw 42; });
  pool.Post([&ran] { ++ran; });
  pool.Join();
  CHECK(ran == 1);
}
