#pragma once
// Build log retention off the request path: a thread that deletes the logs LogRetention no
// longer keeps, in passes of short transactions, every interval.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <thread>

#include "market/build_service.hpp"
#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/time.hpp"

namespace market {

class LogPruner {
 public:
  // `store` and `clock` outlive the pruner. A batch below 1 is 1, an interval at least 10 ms.
  LogPruner(BuildStore& store, const Clock& clock, LogRetention retention);
  ~LogPruner();  // stops
  LogPruner(const LogPruner&) = delete;
  LogPruner& operator=(const LogPruner&) = delete;

  // Starts the thread: a pass at once, then one every interval (80-120% of it at random, so
  // instances started together drift apart). Nothing when the retention keeps every log.
  void Start();
  // Stops between two batches and joins the thread.
  void Stop();

  // One pass on the calling thread: batches until none is full or `stop` is requested. Returns
  // how many logs it pruned; the first failing batch's error ends the pass.
  Result<std::int64_t> PruneAll(std::stop_token stop = {});

 private:
  void Loop(std::stop_token stop);

  BuildStore& store_;
  const Clock& clock_;
  LogRetention retention_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::jthread thread_;
};

}  // namespace market
