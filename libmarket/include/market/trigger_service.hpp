#pragma once
// Build triggers: a git host's push event, signed with a trigger's secret, queues a build of the
// trigger's project that checks out the pushed commit. A trigger whose builds keep failing is
// disabled; a redelivered event queues no second build.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/audit_trail.hpp"
#include "market/build_service.hpp"
#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/events.hpp"
#include "market/identity.hpp"
#include "market/plugin_registry.hpp"
#include "market/project_store.hpp"
#include "market/time.hpp"
#include "market/trigger_events.hpp"
#include "market/trigger_store.hpp"

namespace market {

struct TriggerOptions {
  // Triggered builds failing in a row that disable their trigger; 0: never.
  int disable_after = 50;
  // Received events each trigger keeps the record of (the newest).
  int deliveries_kept = 100;
};

struct TriggerDependencies {
  TriggerStore* store = nullptr;
  BuildService* builds = nullptr;
  BuildStore* build_store = nullptr;  // finds the build a redelivered event already queued
  ProjectStore* projects = nullptr;   // the sources a push may pin
  const PluginRegistry* plugins = nullptr;
  const Clock* clock = nullptr;
  // trigger.create, .update, .delete and .start; null: not recorded.
  AuditLog* audit = nullptr;
};

// A trigger as a request gives it. On update, a missing field keeps the stored value.
struct TriggerRequest {
  std::string project;  // create only
  std::optional<std::string> name;
  std::optional<bool> enabled;
  std::optional<std::string> secret;  // create: generated when missing
  std::optional<std::string> branches;
  std::optional<std::string> tags;
  std::optional<std::vector<std::string>> tag_templates;
  std::optional<bool> latest;
  std::optional<std::string> default_branch;
};

// What a received event did.
struct TriggerReceipt {
  std::string skipped;  // non-empty: nothing was built, and why
  std::optional<Build> build;
  bool duplicate = false;  // the build is the one an earlier delivery of the event queued
};

class TriggerService final : public EventSink {
 public:
  TriggerService(TriggerDependencies deps, TriggerOptions options);
  ~TriggerService() override;
  TriggerService(const TriggerService&) = delete;
  TriggerService& operator=(const TriggerService&) = delete;

  // kInvalid naming the field; kAlreadyExists; kBuildProjectMissing. The secret is answered
  // here only (generated: 32 random bytes as hex when the request has none).
  Result<BuildTriggerRule> Create(const TriggerRequest& request, std::string_view operator_name,
                                  const ChangeOrigin& origin = {});
  Result<BuildTriggerRule> Update(std::int64_t id, const TriggerRequest& request,
                                  std::string_view operator_name, const ChangeOrigin& origin = {});
  Result<void> Delete(std::int64_t id, std::string_view operator_name,
                      const ChangeOrigin& origin = {});
  Result<BuildTriggerRule> Get(std::int64_t id);
  Result<std::vector<BuildTriggerRule>> List(std::string_view project);

  // A person starts the trigger for `ref` ("main", "refs/heads/main", "refs/tags/v1") and/or
  // a full commit `sha`; the ref rule does not apply, the tag templates do. Either one is
  // required. Not de-duplicated: starting twice builds twice.
  Result<Build> Start(std::int64_t id, std::string_view ref, std::string_view sha,
                      std::string_view operator_name, Role role, const ChangeOrigin& origin = {});

  // A git host's request to trigger `id`. kNotFound (no such trigger), kUnauthorized (the
  // signature or token does not match), kInvalid (a disabled trigger, a malformed event, a
  // push of a repository none of the project's git sources checks out), and what queueing the
  // build answers (kTooManyRequests when the queue is full).
  // Every request whose signature or token matches is recorded with what it did (see
  // TriggerDelivery); a failure to record is logged and does not change the answer.
  Result<TriggerReceipt> Receive(std::int64_t id, const HookRequest& request);

  // What trigger `id` received, newest first (at most TriggerOptions::deliveries_kept).
  // kNotFound.
  Result<std::vector<TriggerDelivery>> Deliveries(std::int64_t id);

  // Counts the ends of triggered builds: a trigger whose builds failed disable_after times in
  // a row is disabled with the reason. Never throws.
  void Publish(const Event& event) override;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace market
