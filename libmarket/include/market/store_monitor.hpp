#pragma once
// Figures about the SQL stores for monitoring (market-server's /metrics): session pool usage and
// the number of active builds. Cheap enough to read on every scrape.

#include <cstdint>
#include <memory>

#include "market/error.hpp"
#include "market/store.hpp"

namespace market {

struct PoolUsage {
  int size = 0;     // sessions in the pool
  int in_use = 0;   // leased to a caller right now
  int waiting = 0;  // callers waiting for a free session
};

struct ActiveBuilds {
  std::int64_t queued = 0;
  std::int64_t running = 0;
};

class StoreMonitor {
 public:
  virtual ~StoreMonitor() = default;
  // No database call.
  virtual PoolUsage Pool() const = 0;
  // Queued and running builds over every instance sharing the database: one query served by
  // the (state, id) index, so its cost does not grow with finished history.
  virtual Result<ActiveBuilds> CountActiveBuilds() = 0;
};

// A monitor of stores OpenStores made (it shares their session pool and may outlive them);
// nullptr for stores of another origin (test fakes).
std::unique_ptr<StoreMonitor> MakeStoreMonitor(const Stores& stores);

}  // namespace market
