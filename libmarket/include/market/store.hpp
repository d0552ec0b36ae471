#pragma once
// Opens the storage named by a URL: `sqlite:PATH` (embedded default) or `postgresql://...`.
// The SQL backends stay private to libmarket; embedders see only these interfaces.

#include <memory>
#include <string>

#include "market/base_rebuild_store.hpp"
#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/identity.hpp"
#include "market/immutability.hpp"
#include "market/project_store.hpp"
#include "market/retention_store.hpp"
#include "market/trigger_store.hpp"
#include "market/webhook_store.hpp"

namespace market {

struct StoreOptions {
  std::string url = "sqlite:market.db";
  int pool_size = 8;          // database sessions shared by all callers
  int busy_timeout_ms = 5000;  // SQLite: wait for a lock this long
  // PostgreSQL: one database call taking longer has its connection cut and fails with
  // kUnavailable (a stopped server keeps TCP up, so nothing else ends the wait). 0: no limit.
  int call_timeout_ms = 30000;
};

// The stores share one session pool on one database; schema migrations run on open.
struct Stores {
  ProjectStorePtr projects;
  BuildStorePtr builds;
  IdentityStorePtr identity;  // users and API tokens
  AuditLogPtr audit;
  WebhookStorePtr webhooks;  // webhook policies and deliveries
  TriggerStorePtr triggers;  // build triggers
  ImmutabilityStorePtr immutability;  // immutability rules of tags
  RetentionStorePtr retention;  // tag retention rule sets and runs
  BaseRebuildStorePtr base_rebuilds;  // base-image rebuild opt-ins and claims
};

// kInvalid for a malformed URL; kUnavailable when the database cannot be opened.
Result<Stores> OpenStores(const StoreOptions& options);

}  // namespace market
