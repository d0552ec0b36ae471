#pragma once
// WorkerPool: the threads that run request work which may block (database and registry calls,
// password hashing), so the I/O threads never wait.
//
// Waking a sleeping thread for every job (a futex wake and a context switch, and another for
// the hand-back) cost more than a SQLite point read. So a posted job wakes a sleeping thread
// only while fewer than `eager` jobs are running or queued; past that it waits for a running
// thread, which takes the next job without sleeping. Slow calls must not hold up quick ones: a
// monitor thread looks at the queue every `overdue` while jobs run and wakes a sleeping thread
// for each job that has waited that long, so up to `threads` run at once when the running ones
// are stuck.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace market::server {

class WorkerPool {
 public:
  struct Options {
    int threads = 8;  // at most this many jobs run at once
    int eager = 2;    // jobs for which a sleeping thread is woken at once
    std::chrono::microseconds overdue{2000};
  };

  explicit WorkerPool(Options options);
  ~WorkerPool();  // Join()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`. An exception escaping it is logged; the thread goes on. After Join() has
  // returned, a job is dropped unrun.
  void Post(std::move_only_function<void()> job);
  // Runs every queued job, including those they post, then stops the threads.
  void Join();

 private:
  using Clock = std::chrono::steady_clock;
  struct Job {
    Clock::time_point queued;
    std::move_only_function<void()> run;
  };

  void Work();
  void Monitor();

  const Options options_;
  std::mutex mutex_;
  std::condition_variable wake_;     // sleeping workers
  std::condition_variable monitor_;  // the monitor, asleep while nothing runs
  std::deque<Job> queue_;
  int running_ = 0;
  int sleeping_ = 0;
  bool monitoring_ = false;  // the monitor is ticking
  bool joining_ = false;
  bool joined_ = false;
  std::vector<std::thread> threads_;
  std::thread monitor_thread_;
};

}  // namespace market::server
