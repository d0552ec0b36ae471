#pragma once
// What the stores' contract tests share: each test runs once per available backend, on a
// fresh database.

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "market/project_store.hpp"
#include "support/test_env.hpp"
#include "support/test_stores.hpp"

namespace market::testing {

// SQLite always, PostgreSQL when MARKET_TEST_POSTGRES_URL is set (warned once when it is not):
// a test calling this runs once per backend.
inline Backend PickBackend() {
  static bool warned = false;
  if (!warned && !PostgresUrl()) {
    warned = true;
    WARN("MARKET_TEST_POSTGRES_URL is not set: the PostgreSQL backend is skipped");
  }
  return GENERATE(from_range(AvailableBackends()));
}

// A project of the Cluster "team" made by alice at a fixed time: what builds, webhooks and
// triggers hang off.
inline void AddProject(ProjectStore& store, const std::string& name) {
  Project p;
  p.name = name;
  p.creator = "alice";
  p.create_time = TimePoint{std::chrono::milliseconds{1'790'000'000'000}};
  p.last_modify_time = p.create_time;
  p.last_modify_operator = "alice";
  p.cluster = "team";
  REQUIRE(store.Insert(p).has_value());
}

inline Stores OpenOrFail(const TestDatabase& db, int pool_size = 8) {
  auto stores = db.Open(pool_size);
  if (!stores) FAIL("OpenStores: " << stores.error().message);
  return std::move(*stores);
}

}  // namespace market::testing
