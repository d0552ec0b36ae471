// The WebhookStore contract (policies, the delivery queue and its leases, attempts, paging,
// pruning), run against every available backend.

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "market/project_store.hpp"
#include "market/store.hpp"
#include "market/webhook_store.hpp"
#include "support/test_stores.hpp"
#include "store_contract_support.hpp"

using market::AttemptOutcome;
using market::DeliveryState;
using market::Errc;
using market::EventType;
using market::TimePoint;
using market::WebhookDelivery;
using market::WebhookPolicy;
using market::WebhookStore;
using market::testing::Backend;
using market::testing::TestDatabase;
using std::chrono::seconds;

using market::testing::AddProject;
using market::testing::OpenOrFail;
using market::testing::PickBackend;

namespace {

const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

WebhookPolicy MakePolicy(const std::string& project, const std::string& name) {
  WebhookPolicy policy;
  policy.project = project;
  policy.name = name;
  policy.url = "https://hooks.example.com/" + name;
  policy.events = {EventType::kBuildSucceeded, EventType::kBuildFailed};
  policy.creator = "alice";
  return policy;
}

WebhookPolicy CreateOrFail(WebhookStore& store, const WebhookPolicy& policy) {
  auto created = store.CreatePolicy(policy);
  if (!created) FAIL("CreatePolicy " << policy.name << ": " << created.error().message);
  return *created;
}

WebhookDelivery MakeDelivery(std::int64_t policy_id, TimePoint due,
                             const std::string& type = "build.succeeded") {
  WebhookDelivery delivery;
  delivery.policy_id = policy_id;
  delivery.event_id = "6f1d2c3b-0000-4000-8000-" + std::to_string(due.time_since_epoch().count());
  delivery.event_type = type;
  delivery.body = R"({"type":")" + type + R"("})";
  delivery.content_type = "application/json";
  delivery.next_attempt_at = due;
  return delivery;
}

WebhookDelivery EnqueueOrFail(WebhookStore& store, const WebhookDelivery& delivery) {
  auto queued = store.Enqueue({delivery});
  if (!queued) FAIL("Enqueue: " << queued.error().message);
  REQUIRE(queued->size() == 1);
  return queued->front();
}

std::optional<WebhookDelivery> Claim(WebhookStore& store, const std::string& worker, TimePoint now,
                                     TimePoint lease_until) {
  auto claimed = store.ClaimDue(worker, now, lease_until);
  if (!claimed) FAIL("ClaimDue: " << claimed.error().message);
  return *claimed;
}

AttemptOutcome Outcome(DeliveryState next, int status, TimePoint started,
                       const std::string& error = "") {
  AttemptOutcome outcome;
  outcome.next_state = next;
  outcome.attempt.started_at = started;
  outcome.attempt.duration_ms = 120;
  outcome.attempt.status = status;
  outcome.attempt.error = error;
  outcome.attempt.request_headers = R"({"content-type":"application/json"})";
  outcome.attempt.response_headers = R"({"server":"test"})";
  outcome.attempt.response_excerpt = status == 0 ? "" : "answer " + std::to_string(status);
  return outcome;
}

// Claims `id` (which must be the only due delivery) and records `outcome` for it.
void AttemptOnce(WebhookStore& store, std::int64_t id, const AttemptOutcome& outcome,
                 TimePoint now) {
  auto claimed = Claim(store, "w/1", now, now + seconds(30));
  REQUIRE(claimed.has_value());
  REQUIRE(claimed->id == id);
  auto recorded = store.RecordAttempt(id, "w/1", outcome, now + seconds(1));
  REQUIRE(recorded.has_value());
  REQUIRE(*recorded);
}

std::vector<std::string> Names(const std::vector<WebhookPolicy>& policies) {
  std::vector<std::string> names;
  for (const WebhookPolicy& policy : policies) names.push_back(policy.project + "/" + policy.name);
  return names;
}

}  // namespace

TEST_CASE("webhook store: create, get, list, update and delete policies", "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  AddProject(*stores.projects, "web");

  const auto before =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  WebhookPolicy wanted = MakePolicy("app", "ci");
  wanted.events = {EventType::kBuildQueued, EventType::kBuildStarted,   EventType::kBuildSucceeded,
                   EventType::kBuildFailed, EventType::kBuildCancelled, EventType::kTagPushed,
                   EventType::kTagDeleted,  EventType::kProjectCreated, EventType::kProjectDeleted};
  wanted.repository_glob = "team/app*";
  wanted.tag_glob = "v?.*";
  wanted.secret = "s3cret";
  wanted.format = market::PayloadFormat::kCloudEvents;
  wanted.consecutive_failures = 7;     // not the caller's to set
  wanted.disabled_reason = "ignored";  // nor this
  const WebhookPolicy created = CreateOrFail(hooks, wanted);
  const auto after =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  CHECK(created.id > 0);
  CHECK(created.project == "app");
  CHECK(created.name == "ci");
  CHECK(created.enabled);
  CHECK(created.url == wanted.url);
  CHECK(created.events == wanted.events);
  CHECK(created.repository_glob == "team/app*");
  CHECK(created.tag_glob == "v?.*");
  CHECK(created.secret == "s3cret");
  CHECK(created.format == market::PayloadFormat::kCloudEvents);
  CHECK(created.consecutive_failures == 0);
  CHECK(created.disabled_reason.empty());
  CHECK(created.creator == "alice");
  CHECK(created.created_at >= before);
  CHECK(created.created_at <= after);
  CHECK(created.updated_at == created.created_at);
  CHECK(*hooks.GetPolicy(created.id) == created);

  SECTION("names are unique per project and among the global ones") {
    auto clash = hooks.CreatePolicy(MakePolicy("app", "ci"));
    REQUIRE_FALSE(clash.has_value());
    CHECK(clash.error().code == Errc::kAlreadyExists);
    CHECK(clash.error().message.find("ci") != std::string::npos);
    const WebhookPolicy other = CreateOrFail(hooks, MakePolicy("web", "ci"));
    const WebhookPolicy global = CreateOrFail(hooks, MakePolicy("", "ci"));
    CHECK(global.project.empty());
    auto global_clash = hooks.CreatePolicy(MakePolicy("", "ci"));
    REQUIRE_FALSE(global_clash.has_value());
    CHECK(global_clash.error().code == Errc::kAlreadyExists);

    CreateOrFail(hooks, MakePolicy("app", "alerts"));
    auto app = hooks.ListPolicies("app");
    REQUIRE(app.has_value());
    CHECK(Names(*app) == std::vector<std::string>{"app/alerts", "app/ci"});  // by name
    auto globals = hooks.ListPolicies("");
    REQUIRE(globals.has_value());
    REQUIRE(globals->size() == 1);
    CHECK(globals->front() == global);
    auto none = hooks.ListPolicies("ghost");
    REQUIRE(none.has_value());
    CHECK(none->empty());
    CHECK(other.id != created.id);
  }

  SECTION("a policy of a project that does not exist") {
    auto missing = hooks.CreatePolicy(MakePolicy("ghost", "ci"));
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == Errc::kBuildProjectMissing);
  }

  SECTION("update replaces what a person sets and keeps the rest") {
    WebhookPolicy change = created;
    change.project = "web";      // not changed by an update
    change.creator = "mallory";  // nor this
    change.name = "ci-renamed";
    change.enabled = false;
    change.url = "http://other.example.com/";
    change.events = {EventType::kTagPushed};
    change.repository_glob = "";
    change.tag_glob = "latest";
    change.secret = "";
    change.format = market::PayloadFormat::kDefault;
    auto updated = hooks.UpdatePolicy(change);
    REQUIRE(updated.has_value());
    CHECK(updated->id == created.id);
    CHECK(updated->project == "app");
    CHECK(updated->creator == "alice");
    CHECK(updated->name == "ci-renamed");
    CHECK_FALSE(updated->enabled);
    CHECK(updated->url == "http://other.example.com/");
    CHECK(updated->events == std::vector<EventType>{EventType::kTagPushed});
    CHECK(updated->repository_glob.empty());
    CHECK(updated->tag_glob == "latest");
    CHECK(updated->secret.empty());
    CHECK(updated->format == market::PayloadFormat::kDefault);
    CHECK(updated->disabled_reason.empty());  // disabled by a person
    CHECK(updated->created_at == created.created_at);
    CHECK(updated->updated_at >= created.updated_at);
    CHECK(*hooks.GetPolicy(created.id) == *updated);

    CreateOrFail(hooks, MakePolicy("app", "taken"));
    CreateOrFail(hooks, MakePolicy("web", "elsewhere"));
    change.name = "taken";
    auto clash = hooks.UpdatePolicy(change);
    REQUIRE_FALSE(clash.has_value());
    CHECK(clash.error().code == Errc::kAlreadyExists);
    CHECK(hooks.GetPolicy(created.id)->name == "ci-renamed");  // nothing changed
    change.name = "elsewhere";  // another project's name is free in this one
    REQUIRE(hooks.UpdatePolicy(change).has_value());

    WebhookPolicy ghost = change;
    ghost.id = 999999;
    auto missing = hooks.UpdatePolicy(ghost);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == Errc::kNotFound);
  }

  SECTION("delete, and the codes of a policy that is not there") {
    REQUIRE(hooks.DeletePolicy(created.id).has_value());
    auto gone = hooks.GetPolicy(created.id);
    REQUIRE_FALSE(gone.has_value());
    CHECK(gone.error().code == Errc::kNotFound);
    CHECK(gone.error().message.find(std::to_string(created.id)) != std::string::npos);
    auto again = hooks.DeletePolicy(created.id);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == Errc::kNotFound);
    CHECK(hooks.ListPolicies("app")->empty());
  }
}

TEST_CASE("webhook store: the enabled policies an event of a project reaches", "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  AddProject(*stores.projects, "web");
  CreateOrFail(hooks, MakePolicy("app", "a1"));
  CreateOrFail(hooks, MakePolicy("app", "a2"));
  WebhookPolicy off = MakePolicy("app", "a-off");
  off.enabled = false;
  CreateOrFail(hooks, off);
  CreateOrFail(hooks, MakePolicy("web", "w1"));
  CreateOrFail(hooks, MakePolicy("", "g1"));
  WebhookPolicy global_off = MakePolicy("", "g-off");
  global_off.enabled = false;
  CreateOrFail(hooks, global_off);

  auto names_for = [&](const std::string& project) {
    auto policies = hooks.EnabledPoliciesFor(project);
    REQUIRE(policies.has_value());
    for (const WebhookPolicy& policy : *policies) CHECK(policy.enabled);
    auto names = Names(*policies);
    std::sort(names.begin(), names.end());
    return names;
  };
  CHECK(names_for("app") == std::vector<std::string>{"/g1", "app/a1", "app/a2"});
  CHECK(names_for("web") == std::vector<std::string>{"/g1", "web/w1"});
  CHECK(names_for("") == std::vector<std::string>{"/g1"});  // a tag event of no project
  CHECK(names_for("ghost") == std::vector<std::string>{"/g1"});
}

TEST_CASE("webhook store: deleting a project or a policy deletes its deliveries",
          "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  const WebhookPolicy app = CreateOrFail(hooks, MakePolicy("app", "ci"));
  const WebhookPolicy global = CreateOrFail(hooks, MakePolicy("", "all"));
  const WebhookDelivery tried = EnqueueOrFail(hooks, MakeDelivery(app.id, kT0));
  AttemptOnce(hooks, tried.id,
              Outcome(DeliveryState::kPending, 503, kT0, "503 Service Unavailable"), kT0);
  REQUIRE(hooks.ListAttempts(tried.id)->size() == 1);
  const WebhookDelivery queued = EnqueueOrFail(hooks, MakeDelivery(app.id, kT0 + seconds(9)));
  const WebhookDelivery kept = EnqueueOrFail(hooks, MakeDelivery(global.id, kT0));

  SECTION("the project") {
    REQUIRE(stores.projects->Remove("app").has_value());
    CHECK(hooks.GetPolicy(app.id).error().code == Errc::kNotFound);
    CHECK(hooks.ListPolicies("app")->empty());
    CHECK(hooks.GetDelivery(tried.id).error().code == Errc::kNotFound);
    CHECK(hooks.GetDelivery(queued.id).error().code == Errc::kNotFound);
    CHECK(hooks.ListAttempts(tried.id)->empty());
    CHECK(*hooks.GetPolicy(global.id) == global);
    CHECK(*hooks.GetDelivery(kept.id) == kept);
  }
  SECTION("the policy") {
    REQUIRE(hooks.DeletePolicy(app.id).has_value());
    CHECK(hooks.GetDelivery(tried.id).error().code == Errc::kNotFound);
    CHECK(hooks.GetDelivery(queued.id).error().code == Errc::kNotFound);
    CHECK(hooks.ListAttempts(tried.id)->empty());
    CHECK(hooks.ListDeliveries(app.id, std::nullopt, 10)->deliveries.empty());
    CHECK(*hooks.GetDelivery(kept.id) == kept);
    // A delivery for a policy deleted meanwhile is left out, the others are recorded.
    auto queued_now = hooks.Enqueue({MakeDelivery(app.id, kT0), MakeDelivery(global.id, kT0)});
    REQUIRE(queued_now.has_value());
    REQUIRE(queued_now->size() == 1);
    CHECK(queued_now->front().policy_id == global.id);
  }
}

TEST_CASE("webhook store: claims take the oldest due delivery and lease it", "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  const WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("app", "ci"));

  CHECK_FALSE(Claim(hooks, "w/1", kT0, kT0 + seconds(30)).has_value());  // nothing queued

  const auto before =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  WebhookDelivery repeat = MakeDelivery(policy.id, kT0 + seconds(1));
  repeat.redelivery_of = 42;
  auto queued = hooks.Enqueue(
      {MakeDelivery(policy.id, kT0 + seconds(2)), MakeDelivery(policy.id, kT0), repeat,
       MakeDelivery(policy.id, kT0 + seconds(1)), MakeDelivery(policy.id, kT0 + seconds(60))});
  REQUIRE(queued.has_value());
  REQUIRE(queued->size() == 5);
  const auto& q = *queued;
  for (const WebhookDelivery& delivery : q) {
    CHECK(delivery.id > 0);
    CHECK(delivery.state == DeliveryState::kPending);
    CHECK(delivery.attempts == 0);
    CHECK(delivery.created_at >= before);
    CHECK_FALSE(delivery.finished_at.has_value());
    CHECK(*hooks.GetDelivery(delivery.id) == delivery);
  }
  CHECK(q[2].redelivery_of == std::optional<std::int64_t>(42));
  CHECK(q[2].body == repeat.body);
  CHECK(q[2].event_id == repeat.event_id);
  CHECK(q[2].content_type == "application/json");
  CHECK_FALSE(q[3].redelivery_of.has_value());
  auto missing = hooks.GetDelivery(999999);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(missing.error().message.find("999999") != std::string::npos);

  // Due order (next_attempt_at, then id); the one due in a minute is not taken.
  const TimePoint now = kT0 + seconds(5);
  std::vector<std::int64_t> order;
  while (auto claimed = Claim(hooks, "w/1", now, now + seconds(30))) {
    CHECK(*claimed == *hooks.GetDelivery(claimed->id));  // the stored row
    order.push_back(claimed->id);
    REQUIRE(order.size() <= 4);
  }
  CHECK(order == std::vector<std::int64_t>{q[1].id, q[2].id, q[3].id, q[0].id});

  // Leased until now + 30 s: another worker gets none of them before that, and the oldest
  // once the leases have run out.
  CHECK_FALSE(Claim(hooks, "w/2", now + seconds(30), now + seconds(60)).has_value());
  auto taken_over = Claim(hooks, "w/2", now + seconds(31), now + seconds(60));
  REQUIRE(taken_over.has_value());
  CHECK(taken_over->id == q[1].id);
}

TEST_CASE("webhook store: a restarted instance releases the leases its previous life held",
          "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  const WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("app", "ci"));
  const WebhookDelivery mine = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0));
  const WebhookDelivery theirs = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0 + seconds(1)));
  REQUIRE(Claim(hooks, "host_1/webhooks/0", kT0 + seconds(2), kT0 + seconds(60))->id == mine.id);
  // A name that only starts like this instance's is another instance.
  REQUIRE(Claim(hooks, "host_1/webhooks0/0", kT0 + seconds(2), kT0 + seconds(60))->id ==
          theirs.id);

  auto released = hooks.ReleaseLeasesOf("host_1/webhooks");
  REQUIRE(released.has_value());
  CHECK(*released == 1);
  // Due again before the lease would have run out; the other instance's stays held.
  auto again = Claim(hooks, "host_1/webhooks/1", kT0 + seconds(3), kT0 + seconds(60));
  REQUIRE(again.has_value());
  CHECK(again->id == mine.id);
  CHECK_FALSE(Claim(hooks, "host_1/webhooks/1", kT0 + seconds(3), kT0 + seconds(60)).has_value());
  // The released worker's late answer no longer counts.
  AttemptOutcome outcome;
  outcome.next_state = DeliveryState::kDelivered;
  CHECK(*hooks.RecordAttempt(mine.id, "host_1/webhooks/0", outcome, kT0 + seconds(4)) == false);
  CHECK(*hooks.ReleaseLeasesOf("nobody") == 0);
}

TEST_CASE("webhook store: a disabled policy's deliveries wait, except test events",
          "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("app", "ci"));
  const WebhookDelivery event = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0));
  const WebhookDelivery test =
      EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0 + seconds(1), "webhook.test"));
  policy.enabled = false;
  REQUIRE(hooks.UpdatePolicy(policy).has_value());

  auto claimed = Claim(hooks, "w/1", kT0 + seconds(5), kT0 + seconds(30));
  REQUIRE(claimed.has_value());
  CHECK(claimed->id == test.id);
  CHECK_FALSE(Claim(hooks, "w/1", kT0 + seconds(5), kT0 + seconds(30)).has_value());

  policy.enabled = true;
  REQUIRE(hooks.UpdatePolicy(policy).has_value());
  auto after = Claim(hooks, "w/1", kT0 + seconds(5), kT0 + seconds(30));
  REQUIRE(after.has_value());
  CHECK(after->id == event.id);
}

TEST_CASE("webhook store: attempts are recorded only by the lease's holder", "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  const WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("app", "ci"));
  const WebhookDelivery queued = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0));
  auto claimed = Claim(hooks, "w/1", kT0, kT0 + seconds(30));
  REQUIRE(claimed.has_value());
  const WebhookDelivery leased = *hooks.GetDelivery(queued.id);

  auto unchanged = [&] {
    CHECK(*hooks.GetDelivery(queued.id) == leased);
    CHECK(hooks.ListAttempts(queued.id)->empty());
    CHECK(hooks.GetPolicy(policy.id)->consecutive_failures == 0);
  };
  const AttemptOutcome failed = Outcome(DeliveryState::kFailed, 410, kT0 + seconds(1), "410 Gone");
  auto other = hooks.RecordAttempt(queued.id, "w/2", failed, kT0 + seconds(2));
  REQUIRE(other.has_value());
  CHECK_FALSE(*other);
  unchanged();
  // Its own lease, run out.
  auto late = hooks.RecordAttempt(queued.id, "w/1", failed, kT0 + seconds(31));
  REQUIRE(late.has_value());
  CHECK_FALSE(*late);
  unchanged();
  auto nowhere = hooks.RecordAttempt(999999, "w/1", failed, kT0 + seconds(2));
  REQUIRE(nowhere.has_value());
  CHECK_FALSE(*nowhere);

  // Taken over after the lease ran out: the first worker's late answer no longer counts.
  auto again = Claim(hooks, "w/2", kT0 + seconds(31), kT0 + seconds(60));
  REQUIRE(again.has_value());
  auto first = hooks.RecordAttempt(queued.id, "w/1", failed, kT0 + seconds(32));
  REQUIRE(first.has_value());
  CHECK_FALSE(*first);
  auto second = hooks.RecordAttempt(queued.id, "w/2", failed, kT0 + seconds(32));
  REQUIRE(second.has_value());
  CHECK(*second);
  CHECK(hooks.GetDelivery(queued.id)->state == DeliveryState::kFailed);
  // Finished: no lease is left to hold.
  auto done = hooks.RecordAttempt(queued.id, "w/2", failed, kT0 + seconds(33));
  REQUIRE(done.has_value());
  CHECK_FALSE(*done);
  CHECK(hooks.ListAttempts(queued.id)->size() == 1);
}

TEST_CASE("webhook store: retries, success, and failures that disable a policy", "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  AddProject(*stores.projects, "app");
  WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("app", "ci"));

  // A retry: still pending, due at retry_at, the lease given back.
  const WebhookDelivery d1 = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0));
  AttemptOutcome retry = Outcome(DeliveryState::kPending, 503, kT0, "503 Service Unavailable");
  retry.retry_at = kT0 + seconds(20);
  AttemptOnce(hooks, d1.id, retry, kT0);
  auto pending = hooks.GetDelivery(d1.id);
  REQUIRE(pending.has_value());
  CHECK(pending->state == DeliveryState::kPending);
  CHECK(pending->attempts == 1);
  CHECK(pending->next_attempt_at == kT0 + seconds(20));
  CHECK_FALSE(pending->finished_at.has_value());
  CHECK(pending->last_status == 503);
  CHECK(pending->last_error == "503 Service Unavailable");
  CHECK(hooks.GetPolicy(policy.id)->consecutive_failures == 0);  // a retry is no failure yet
  CHECK_FALSE(Claim(hooks, "w/1", kT0 + seconds(19), kT0 + seconds(60)).has_value());

  // Then a failure that gives up, then a success: the count of failures in a row resets.
  AttemptOutcome give_up =
      Outcome(DeliveryState::kFailed, 0, kT0 + seconds(20), "connection refused");
  give_up.disable_after = 3;
  give_up.disable_reason = "3 deliveries failed in a row";
  AttemptOnce(hooks, d1.id, give_up, kT0 + seconds(20));
  auto failed = hooks.GetDelivery(d1.id);
  REQUIRE(failed.has_value());
  CHECK(failed->state == DeliveryState::kFailed);
  CHECK(failed->attempts == 2);
  CHECK(failed->finished_at == kT0 + seconds(21));  // RecordAttempt's now
  CHECK(failed->last_status == 0);
  CHECK(failed->last_error == "connection refused");
  CHECK(hooks.GetPolicy(policy.id)->consecutive_failures == 1);

  auto attempts = hooks.ListAttempts(d1.id);
  REQUIRE(attempts.has_value());
  REQUIRE(attempts->size() == 2);  // oldest first
  const market::DeliveryAttempt& a1 = (*attempts)[0];
  CHECK(a1.id > 0);
  CHECK(a1.delivery_id == d1.id);
  CHECK(a1.number == 1);
  CHECK(a1.started_at == kT0);
  CHECK(a1.duration_ms == 120);
  CHECK(a1.status == 503);
  CHECK(a1.error == "503 Service Unavailable");
  CHECK(a1.request_headers == R"({"content-type":"application/json"})");
  CHECK(a1.response_headers == R"({"server":"test"})");
  CHECK(a1.response_excerpt == "answer 503");
  CHECK((*attempts)[1].number == 2);
  CHECK((*attempts)[1].status == 0);
  CHECK((*attempts)[1].started_at == kT0 + seconds(20));

  const WebhookDelivery d2 = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0 + seconds(30)));
  AttemptOnce(hooks, d2.id, Outcome(DeliveryState::kDelivered, 204, kT0 + seconds(30)),
              kT0 + seconds(30));
  auto delivered = hooks.GetDelivery(d2.id);
  REQUIRE(delivered.has_value());
  CHECK(delivered->state == DeliveryState::kDelivered);
  CHECK(delivered->attempts == 1);
  CHECK(delivered->last_status == 204);
  CHECK(delivered->last_error.empty());
  CHECK(delivered->finished_at == kT0 + seconds(31));
  CHECK(hooks.GetPolicy(policy.id)->consecutive_failures == 0);

  // Three failed deliveries in a row disable it, with the reason, in the same transaction.
  TimePoint at = kT0 + seconds(40);
  for (int i = 1; i <= 3; ++i) {
    const WebhookDelivery d = EnqueueOrFail(hooks, MakeDelivery(policy.id, at));
    AttemptOnce(hooks, d.id, give_up, at);
    auto now = hooks.GetPolicy(policy.id);
    REQUIRE(now.has_value());
    CHECK(now->consecutive_failures == i);
    CHECK(now->enabled == (i < 3));
    at += seconds(10);
  }
  auto disabled = hooks.GetPolicy(policy.id);
  REQUIRE(disabled.has_value());
  CHECK_FALSE(disabled->enabled);
  CHECK(disabled->disabled_reason == "3 deliveries failed in a row");
  CHECK(disabled->updated_at == kT0 + seconds(61));
  // Its due deliveries wait while it is disabled.
  const WebhookDelivery waiting = EnqueueOrFail(hooks, MakeDelivery(policy.id, at));
  CHECK_FALSE(Claim(hooks, "w/1", at, at + seconds(30)).has_value());

  // An update that keeps it disabled keeps the reason; enabling clears it and the count.
  WebhookPolicy edit = *disabled;
  edit.url = "https://fixed.example.com/";
  auto still = hooks.UpdatePolicy(edit);
  REQUIRE(still.has_value());
  CHECK(still->disabled_reason == "3 deliveries failed in a row");
  CHECK(still->consecutive_failures == 3);
  edit.enabled = true;
  auto enabled = hooks.UpdatePolicy(edit);
  REQUIRE(enabled.has_value());
  CHECK(enabled->enabled);
  CHECK(enabled->consecutive_failures == 0);
  CHECK(enabled->disabled_reason.empty());
  auto resumed = Claim(hooks, "w/1", at, at + seconds(30));
  REQUIRE(resumed.has_value());
  CHECK(resumed->id == waiting.id);

  SECTION("a policy a person disabled does not get the service's reason") {
    edit.enabled = false;
    REQUIRE(hooks.UpdatePolicy(edit).has_value());
    AttemptOutcome last = give_up;
    last.disable_after = 1;
    auto recorded = hooks.RecordAttempt(waiting.id, "w/1", last, at + seconds(1));
    REQUIRE(recorded.has_value());
    CHECK(*recorded);
    auto off = hooks.GetPolicy(policy.id);
    REQUIRE(off.has_value());
    CHECK_FALSE(off->enabled);
    CHECK(off->disabled_reason.empty());
  }
  SECTION("disable_after 0 never disables") {
    AttemptOutcome last = give_up;
    last.disable_after = 0;
    REQUIRE(*hooks.RecordAttempt(waiting.id, "w/1", last, at + seconds(1)));
    CHECK(hooks.GetPolicy(policy.id)->enabled);
    CHECK(hooks.GetPolicy(policy.id)->consecutive_failures == 1);
  }
}

TEST_CASE("webhook store: what a receiver answered is stored as valid text", "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  const WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("", "all"));
  const WebhookDelivery queued = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0));
  AttemptOutcome outcome = Outcome(DeliveryState::kPending, 500, kT0, "500 \xff");
  outcome.retry_at = kT0 + seconds(10);
  outcome.attempt.response_excerpt = std::string("ok\0\xc3", 4) + "\xa9 caf\xc3";  // cut mid-char
  AttemptOnce(hooks, queued.id, outcome, kT0);
  auto attempts = hooks.ListAttempts(queued.id);
  REQUIRE(attempts.has_value());
  REQUIRE(attempts->size() == 1);
  CHECK(attempts->front().response_excerpt == "ok\xc3\xa9 caf\xef\xbf\xbd");
  CHECK(attempts->front().error == "500 \xef\xbf\xbd");
  CHECK(hooks.GetDelivery(queued.id)->last_error == "500 \xef\xbf\xbd");
}

TEST_CASE("webhook store: a policy's deliveries page newest first by a cursor", "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  const WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("", "all"));
  const WebhookPolicy other = CreateOrFail(hooks, MakePolicy("", "other"));
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0 + seconds(i))).id);
    EnqueueOrFail(hooks, MakeDelivery(other.id, kT0 + seconds(i)));
  }

  auto page_ids = [](const market::DeliveryPage& page) {
    std::vector<std::int64_t> out;
    for (const WebhookDelivery& delivery : page.deliveries) out.push_back(delivery.id);
    return out;
  };
  auto first = hooks.ListDeliveries(policy.id, std::nullopt, 2);
  REQUIRE(first.has_value());
  CHECK(page_ids(*first) == std::vector<std::int64_t>{ids[4], ids[3]});
  CHECK(first->deliveries.front() == *hooks.GetDelivery(ids[4]));  // whole rows
  REQUIRE(first->next_before == std::optional<std::int64_t>(ids[3]));
  auto second = hooks.ListDeliveries(policy.id, first->next_before, 2);
  REQUIRE(second.has_value());
  CHECK(page_ids(*second) == std::vector<std::int64_t>{ids[2], ids[1]});
  REQUIRE(second->next_before == std::optional<std::int64_t>(ids[1]));
  auto last = hooks.ListDeliveries(policy.id, second->next_before, 2);
  REQUIRE(last.has_value());
  CHECK(page_ids(*last) == std::vector<std::int64_t>{ids[0]});
  CHECK_FALSE(last->next_before.has_value());

  // A page that ends exactly at the last delivery says there is no next one.
  auto exact = hooks.ListDeliveries(policy.id, ids[2], 2);
  REQUIRE(exact.has_value());
  CHECK(page_ids(*exact) == std::vector<std::int64_t>{ids[1], ids[0]});
  CHECK_FALSE(exact->next_before.has_value());
  auto all = hooks.ListDeliveries(policy.id, std::nullopt, 10);
  REQUIRE(all.has_value());
  CHECK(all->deliveries.size() == 5);
  CHECK_FALSE(all->next_before.has_value());
  CHECK(hooks.ListDeliveries(999999, std::nullopt, 10)->deliveries.empty());
  auto bad = hooks.ListDeliveries(policy.id, std::nullopt, 0);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::kInvalid);
}

TEST_CASE("webhook store: pruning deletes finished deliveries, a bounded number at a time",
          "[sql][webhook]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& hooks = *stores.webhooks;
  const WebhookPolicy policy = CreateOrFail(hooks, MakePolicy("", "all"));
  // Five finished at T0+1s .. T0+5s (delivered and failed alternately), one retrying, and one
  // never tried.
  std::vector<std::int64_t> finished;
  for (int i = 0; i < 5; ++i) {
    const TimePoint at = kT0 + seconds(i);
    const WebhookDelivery d = EnqueueOrFail(hooks, MakeDelivery(policy.id, at));
    AttemptOnce(hooks, d.id,
                Outcome(i % 2 == 0 ? DeliveryState::kDelivered : DeliveryState::kFailed,
                        i % 2 == 0 ? 200 : 404, at),
                at);
    finished.push_back(d.id);
  }
  const WebhookDelivery retrying = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0));
  AttemptOutcome retry = Outcome(DeliveryState::kPending, 503, kT0);
  retry.retry_at = kT0 + seconds(1000);
  AttemptOnce(hooks, retrying.id, retry, kT0);
  const WebhookDelivery fresh = EnqueueOrFail(hooks, MakeDelivery(policy.id, kT0 + seconds(900)));

  auto bad = hooks.PruneDeliveries(kT0 + seconds(100), 0);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::kInvalid);
  // Finished before T0+5s: the first four; at most three per call, oldest first.
  auto pruned = hooks.PruneDeliveries(kT0 + seconds(5), 3);
  REQUIRE(pruned.has_value());
  CHECK(*pruned == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(hooks.GetDelivery(finished[i]).error().code == Errc::kNotFound);
    CHECK(hooks.ListAttempts(finished[i])->empty());
  }
  CHECK(hooks.GetDelivery(finished[3]).has_value());
  CHECK(*hooks.PruneDeliveries(kT0 + seconds(5), 3) == 1);
  CHECK(*hooks.PruneDeliveries(kT0 + seconds(5), 3) == 0);
  CHECK(hooks.GetDelivery(finished[4]).has_value());  // finished at T0+5s: not before
  CHECK(*hooks.PruneDeliveries(kT0 + seconds(10'000), 100) == 1);
  CHECK(hooks.GetDelivery(retrying.id)->state == DeliveryState::kPending);
  CHECK(hooks.ListAttempts(retrying.id)->size() == 1);
  CHECK(hooks.GetDelivery(fresh.id).has_value());
}

TEST_CASE("webhook store: concurrent claimers in separate pools take each delivery once",
          "[sql][webhook][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db, 2);
  constexpr int kPolicies = 4;
  constexpr int kPerPolicy = 50;
  constexpr int kTotal = kPolicies * kPerPolicy;
  for (int p = 0; p < kPolicies; ++p) {
    const WebhookPolicy policy =
        CreateOrFail(*stores.webhooks, MakePolicy("", "p" + std::to_string(p)));
    std::vector<WebhookDelivery> batch;
    for (int i = 0; i < kPerPolicy; ++i) {
      batch.push_back(MakeDelivery(policy.id, kT0 + std::chrono::milliseconds(i)));
    }
    auto queued = stores.webhooks->Enqueue(batch);
    REQUIRE(queued.has_value());
    REQUIRE(queued->size() == kPerPolicy);
  }

  // Each worker has its own stores on its own pool, as separate server instances would.
  constexpr int kWorkers = 6;
  std::vector<market::Stores> instances;
  for (int w = 0; w < kWorkers; ++w) instances.push_back(OpenOrFail(db, 2));
  std::mutex mutex;
  std::set<std::int64_t> claimed;
  std::vector<std::string> failures;  // Catch's macros are not for other threads
  std::atomic<int> duplicates{0}, refused{0}, done{0};
  std::vector<std::thread> workers;
  const TimePoint now = kT0 + seconds(1);
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      const std::string name = "instance" + std::to_string(w) + "/sender";
      WebhookStore& store = *instances[w].webhooks;
      auto failed = [&](const std::string& what) {
        std::lock_guard lock(mutex);
        failures.push_back(what);
      };
      for (int spins = 0; spins < 5000 && done < kTotal; ++spins) {
        auto next = store.ClaimDue(name, now, now + seconds(300));
        if (!next) {
          failed("claim: " + next.error().message);
          continue;
        }
        if (!next->has_value()) {
          std::this_thread::yield();
          continue;
        }
        const std::int64_t id = (*next)->id;
        {
          std::lock_guard lock(mutex);
          if (!claimed.insert(id).second) ++duplicates;
        }
        auto recorded = store.RecordAttempt(id, name, Outcome(DeliveryState::kDelivered, 200, now),
                                            now + seconds(1));
        if (!recorded) {
          failed("record: " + recorded.error().message);
        } else if (!*recorded) {
          ++refused;
        }
        ++done;
      }
    });
  }
  for (auto& t : workers) t.join();
  for (const std::string& failure : failures) UNSCOPED_INFO(failure);
  CHECK(failures.empty());
  CHECK(duplicates == 0);
  CHECK(refused == 0);
  CHECK(claimed.size() == static_cast<std::size_t>(kTotal));
  auto policies = stores.webhooks->ListPolicies("");
  REQUIRE(policies.has_value());
  REQUIRE(policies->size() == static_cast<std::size_t>(kPolicies));
  for (const WebhookPolicy& policy : *policies) {
    auto page = stores.webhooks->ListDeliveries(policy.id, std::nullopt, kPerPolicy);
    REQUIRE(page.has_value());
    REQUIRE(page->deliveries.size() == static_cast<std::size_t>(kPerPolicy));
    for (const WebhookDelivery& delivery : page->deliveries) {
      CHECK(delivery.state == DeliveryState::kDelivered);
      CHECK(delivery.attempts == 1);
    }
  }
}
