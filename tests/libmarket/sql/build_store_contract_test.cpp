// The BuildStore contract (queue, leases, logs, cancel) and connection recovery, run against
// every available backend.

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "market/build_store.hpp"
#include "market/project_store.hpp"
#include "market/store.hpp"
#include "support/ended_builds.hpp"
#include "support/test_stores.hpp"
#include "store_contract_support.hpp"

using market::Build;
using market::BuildState;
using market::Errc;
using market::testing::Backend;
using market::testing::TestDatabase;
using std::chrono::days;
using std::chrono::seconds;

using market::testing::AddProject;
using market::testing::OpenOrFail;
using market::testing::PickBackend;

namespace {

const market::TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

Build MakeBuild(const std::string& project, const std::string& tag, market::TimePoint at = kT0) {
  Build b;
  b.project = project;
  b.tag = tag;
  b.operator_name = "bob";
  b.image = "127.0.0.1:5000/team/" + project + ":" + tag;
  b.queued_at = at;
  return b;
}

std::string ReadAll(market::BuildStore& store, std::int64_t id, std::int64_t step) {
  std::string out;
  std::int64_t offset = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    auto chunk = store.ReadLog(id, offset, step);
    REQUIRE(chunk.has_value());
    out += chunk->text;
    if (chunk->next_offset == offset) break;
    offset = chunk->next_offset;
  }
  return out;
}

// A build of `project` that ran and ended at `at`, its log one line naming it.
Build Ended(market::BuildStore& builds, const std::string& project, const std::string& tag,
            market::TimePoint at, BuildState state = BuildState::kSucceeded) {
  auto ended = market::testing::RecordEndedBuild(builds, project, tag, at, state,
                                                 "log of " + project + ":" + tag + "\n");
  if (!ended) FAIL("recording build " << project << ":" << tag << ": " << ended.error().message);
  return *ended;
}

// The ids among `ids` whose builds are marked log_pruned.
std::set<std::int64_t> Pruned(market::BuildStore& builds, const std::vector<std::int64_t>& ids) {
  std::set<std::int64_t> pruned;
  for (std::int64_t id : ids) {
    auto build = builds.Get(id);
    REQUIRE(build.has_value());
    if (build->log_pruned) pruned.insert(id);
  }
  return pruned;
}

// The log rows the database still holds for build `id`, read beside the store.
long long LogRows(const TestDatabase& db, std::int64_t id) {
  const std::string query =
      "SELECT COUNT(*) FROM build_logs WHERE build_id = " + std::to_string(id);
  if (db.backend() == Backend::kPostgres) return std::stoll(db.QueryText(query));
  soci::session sql(soci::sqlite3, db.url().substr(std::string_view("sqlite:").size()));
  long long rows = -1;
  sql << query, soci::into(rows);
  return rows;
}

}  // namespace

TEST_CASE("build store: enqueue, get, history and their error codes", "[sql][build]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "app");
  AddProject(*stores.projects, "other");

  auto missing = builds.Enqueue(MakeBuild("ghost", "v1"));
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Errc::kBuildProjectMissing);

  auto b1 = builds.Enqueue(MakeBuild("app", "v1"));
  REQUIRE(b1.has_value());
  CHECK(b1->id > 0);
  CHECK(b1->state == BuildState::kQueued);
  CHECK(b1->queued_at == kT0);
  CHECK(b1->tag == "v1");
  CHECK(b1->operator_name == "bob");
  CHECK(b1->image == "127.0.0.1:5000/team/app:v1");
  CHECK_FALSE(b1->started_at.has_value());
  CHECK_FALSE(b1->finished_at.has_value());
  CHECK(*builds.Get(b1->id) == *b1);
  auto b2 = builds.Enqueue(MakeBuild("app", "v2", kT0 + seconds(1)));
  auto b3 = builds.Enqueue(MakeBuild("app", "v3", kT0 + seconds(2)));
  REQUIRE(builds.Enqueue(MakeBuild("other", "x")).has_value());
  REQUIRE(b2.has_value());
  REQUIRE(b3.has_value());
  CHECK(*builds.QueueDepth() == 4);
  {
    // What the queue's bounds count: queued builds of one project, and of one operator.
    auto counts = builds.CountQueued("app", "bob");
    REQUIRE(counts);
    CHECK(counts->project == 3);
    CHECK(counts->operator_builds == 4);
    auto none = builds.CountQueued("ghost", "nobody");
    REQUIRE(none);
    CHECK(none->project == 0);
    CHECK(none->operator_builds == 0);
  }

  CHECK(builds.Get(999999).error().code == Errc::kBuildNotFound);

  auto page = builds.ListForProject("app", 1, 2);
  REQUIRE(page.has_value());
  CHECK(page->total_count == 3);
  REQUIRE(page->builds.size() == 2);
  CHECK(page->builds[0] == *b3);  // newest first
  CHECK(page->builds[1] == *b2);
  auto page2 = builds.ListForProject("app", 2, 2);
  REQUIRE(page2.has_value());
  REQUIRE(page2->builds.size() == 1);
  CHECK(page2->builds[0] == *b1);
  auto none = builds.ListForProject("ghost", 1, 10);
  REQUIRE(none.has_value());
  CHECK(none->total_count == 0);
  CHECK(none->builds.empty());
}

TEST_CASE("build store: noCache and a project's build settings", "[sql][build]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "app");

  Build cold = MakeBuild("app", "v1");
  cold.no_cache = true;
  auto stored = builds.Enqueue(cold);
  REQUIRE(stored);
  CHECK(stored->no_cache);
  CHECK(builds.Get(stored->id)->no_cache);
  auto warm = builds.Enqueue(MakeBuild("app", "v2"));
  REQUIRE(warm);
  CHECK_FALSE(warm->no_cache);

  // Never set: the defaults.
  auto fresh = builds.GetBuildSettings("app");
  REQUIRE(fresh);
  CHECK(fresh->project == "app");
  CHECK(fresh->layer_cache);
  CHECK(fresh->operator_name.empty());
  CHECK_FALSE(fresh->updated_at.has_value());

  market::ProjectBuildSettings off{"app", false, "carol", std::nullopt};
  auto set = builds.SetBuildSettings(off, kT0);
  REQUIRE(set);
  CHECK_FALSE(set->layer_cache);
  CHECK(set->updated_at == kT0);
  auto read = builds.GetBuildSettings("app");
  REQUIRE(read);
  CHECK_FALSE(read->layer_cache);
  CHECK(read->operator_name == "carol");
  CHECK(read->updated_at == kT0);
  // Set again: one row, the newest values.
  off.layer_cache = true;
  REQUIRE(builds.SetBuildSettings(off, kT0 + seconds(5)));
  CHECK(builds.GetBuildSettings("app")->layer_cache);
  CHECK(builds.GetBuildSettings("app")->updated_at == kT0 + seconds(5));

  CHECK(builds.GetBuildSettings("ghost").error().code == Errc::kBuildProjectMissing);
  market::ProjectBuildSettings ghost{"ghost", false, "carol", std::nullopt};
  CHECK(builds.SetBuildSettings(ghost, kT0).error().code == Errc::kBuildProjectMissing);
}

TEST_CASE("build store: builds across projects by state, project and operator, newest first",
          "[sql][build]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "app");
  AddProject(*stores.projects, "web");
  auto enqueue = [&](const std::string& project, const std::string& tag,
                     const std::string& operator_name) {
    Build build = MakeBuild(project, tag);
    build.operator_name = operator_name;
    auto queued = builds.Enqueue(build);
    REQUIRE(queued.has_value());
    return queued->id;
  };
  const std::int64_t a1 = enqueue("app", "v1", "bob");
  const std::int64_t w1 = enqueue("web", "v1", "carol");
  const std::int64_t a2 = enqueue("app", "v2", "carol");
  const std::int64_t w2 = enqueue("web", "v2", "bob");
  // a1 succeeds, w1 runs (one build per project runs at once), a2 and w2 stay queued.
  auto first = builds.ClaimNext("w/1", kT0, kT0 + seconds(30));
  REQUIRE(first.has_value());
  REQUIRE(first->has_value());
  CHECK((*first)->id == a1);
  REQUIRE(builds.Finish(a1, market::BuildResult{BuildState::kSucceeded, "sha256:ab", 10, ""},
                        kT0 + seconds(1)));
  auto second = builds.ClaimNext("w/2", kT0, kT0 + seconds(30));
  REQUIRE(second.has_value());
  REQUIRE(second->has_value());
  CHECK((*second)->id == w1);

  auto ids = [&](const market::BuildFilter& filter) {
    auto listed = builds.List(filter);
    REQUIRE(listed.has_value());
    std::vector<std::int64_t> out;
    for (const Build& build : *listed) out.push_back(build.id);
    return out;
  };
  market::BuildFilter all;
  all.limit = 10;
  CHECK(ids(all) == std::vector<std::int64_t>{w2, a2, w1, a1});
  market::BuildFilter pending = all;
  pending.states = {BuildState::kQueued, BuildState::kRunning};
  CHECK(ids(pending) == std::vector<std::int64_t>{w2, a2, w1});
  market::BuildFilter succeeded = all;
  succeeded.states = {BuildState::kSucceeded};
  auto done = builds.List(succeeded);
  REQUIRE(done.has_value());
  REQUIRE(done->size() == 1);
  CHECK(done->front().digest == "sha256:ab");  // whole rows, not ids only
  CHECK(done->front().finished_at == kT0 + seconds(1));
  market::BuildFilter of_app = all;
  of_app.project = "app";
  CHECK(ids(of_app) == std::vector<std::int64_t>{a2, a1});
  market::BuildFilter by_bob = all;
  by_bob.operator_name = "bob";
  CHECK(ids(by_bob) == std::vector<std::int64_t>{w2, a1});
  market::BuildFilter every = all;  // every filter at once
  every.project = "web";
  every.operator_name = "carol";
  every.states = {BuildState::kRunning};
  CHECK(ids(every) == std::vector<std::int64_t>{w1});

  // The keyset cursor walks the whole list in pages without repeating or missing a build.
  market::BuildFilter page = all;
  page.limit = 3;
  CHECK(ids(page) == std::vector<std::int64_t>{w2, a2, w1});
  page.before_id = w1;
  CHECK(ids(page) == std::vector<std::int64_t>{a1});
  page.before_id = a1;
  CHECK(ids(page).empty());

  market::BuildFilter ghost = all;
  ghost.project = "ghost";
  CHECK(ids(ghost).empty());
  market::BuildFilter zero = all;
  zero.limit = 0;
  CHECK(builds.List(zero).error().code == Errc::kInvalid);
}

TEST_CASE("build store: claim, heartbeat, finish", "[sql][build]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "a");
  AddProject(*stores.projects, "b");

  auto empty = builds.ClaimNext("w1", kT0, kT0 + seconds(30));
  REQUIRE(empty.has_value());
  CHECK_FALSE(empty->has_value());

  auto a1 = *builds.Enqueue(MakeBuild("a", "1"));
  auto a2 = *builds.Enqueue(MakeBuild("a", "2"));
  auto b1 = *builds.Enqueue(MakeBuild("b", "1"));

  auto c1 = builds.ClaimNext("w1", kT0 + seconds(1), kT0 + seconds(31));
  REQUIRE(c1.has_value());
  REQUIRE(c1->has_value());
  CHECK((*c1)->id == a1.id);  // oldest first
  CHECK((*c1)->state == BuildState::kRunning);
  CHECK((*c1)->started_at == kT0 + seconds(1));

  // a2 waits: project a already has a running build
  auto c2 = builds.ClaimNext("w2", kT0 + seconds(2), kT0 + seconds(32));
  REQUIRE(c2.has_value());
  REQUIRE(c2->has_value());
  CHECK((*c2)->id == b1.id);
  auto c3 = builds.ClaimNext("w3", kT0 + seconds(2), kT0 + seconds(32));
  REQUIRE(c3.has_value());
  CHECK_FALSE(c3->has_value());
  CHECK(*builds.QueueDepth() == 1);

  CHECK(*builds.Heartbeat(a1.id, "w1", kT0 + seconds(60)) == true);
  CHECK(*builds.Heartbeat(a1.id, "w2", kT0 + seconds(60)) == false);  // not its build
  CHECK(*builds.Heartbeat(a2.id, "w1", kT0 + seconds(60)) == false);  // not running

  auto done =
      builds.Finish(a1.id, {BuildState::kSucceeded, "sha256:abc", 1234, ""}, kT0 + seconds(10));
  REQUIRE(done.has_value());
  CHECK(done->state == BuildState::kSucceeded);
  CHECK(done->digest == "sha256:abc");
  CHECK(done->size == 1234);
  CHECK(done->finished_at == kT0 + seconds(10));
  CHECK(*builds.Heartbeat(a1.id, "w1", kT0 + seconds(60)) == false);

  auto twice = builds.Finish(a1.id, {BuildState::kFailed, "", 0, "x"}, kT0 + seconds(11));
  REQUIRE_FALSE(twice.has_value());
  CHECK(twice.error().code == Errc::kBuildFinished);
  auto queued_finish = builds.Finish(a2.id, {BuildState::kFailed, "", 0, "x"}, kT0);
  REQUIRE_FALSE(queued_finish.has_value());
  CHECK(queued_finish.error().code == Errc::kInvalid);
  CHECK(builds.Finish(424242, {BuildState::kFailed, "", 0, "x"}, kT0).error().code ==
        Errc::kBuildNotFound);

  // now a2 can run
  auto c4 = builds.ClaimNext("w1", kT0 + seconds(12), kT0 + seconds(42));
  REQUIRE(c4.has_value());
  REQUIRE(c4->has_value());
  CHECK((*c4)->id == a2.id);
}

TEST_CASE("build store: cancel queued and running builds", "[sql][build]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "a");
  auto first = *builds.Enqueue(MakeBuild("a", "1"));
  auto second = *builds.Enqueue(MakeBuild("a", "2"));

  REQUIRE(builds.ClaimNext("w", kT0, kT0 + seconds(30))->has_value());
  auto running = builds.RequestCancel(first.id, "user asked", kT0 + seconds(1));
  REQUIRE(running.has_value());
  CHECK(running->state == BuildState::kRunning);
  CHECK(running->cancel_requested);

  auto queued = builds.RequestCancel(second.id, "user asked", kT0 + seconds(1));
  REQUIRE(queued.has_value());
  CHECK(queued->state == BuildState::kCancelled);
  CHECK(queued->reason == "user asked");
  CHECK(queued->finished_at == kT0 + seconds(1));
  CHECK(*builds.QueueDepth() == 0);

  auto again = builds.RequestCancel(second.id, "again", kT0);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == Errc::kBuildFinished);
  CHECK(builds.RequestCancel(777777, "x", kT0).error().code == Errc::kBuildNotFound);

  auto stopped = builds.Finish(first.id, {BuildState::kCancelled, "", 0, "cancelled"}, kT0);
  REQUIRE(stopped.has_value());
  CHECK(stopped->state == BuildState::kCancelled);
}

TEST_CASE("build store: expired leases and a restarted worker's builds fail", "[sql][build]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "a");
  AddProject(*stores.projects, "b");
  AddProject(*stores.projects, "c");
  AddProject(*stores.projects, "d");
  auto a = *builds.Enqueue(MakeBuild("a", "1"));
  auto b = *builds.Enqueue(MakeBuild("b", "1"));
  auto c = *builds.Enqueue(MakeBuild("c", "1"));
  auto d = *builds.Enqueue(MakeBuild("d", "1"));
  REQUIRE(builds.ClaimNext("dead", kT0, kT0 + seconds(10))->has_value());
  REQUIRE(builds.ClaimNext("alive", kT0, kT0 + seconds(10))->has_value());
  // Worker 3 of the instance "host_1/10.0.0.1:80", and a worker of a look-alike instance.
  REQUIRE(builds.ClaimNext("host_1/10.0.0.1:80/3", kT0, kT0 + seconds(100))->has_value());
  REQUIRE(builds.ClaimNext("host_1/10.0.0.1:8080/0", kT0, kT0 + seconds(100))->has_value());
  REQUIRE(*builds.Heartbeat(b.id, "alive", kT0 + seconds(40)));

  CHECK(builds.FailExpired(kT0 + seconds(5), "lease expired")->empty());
  auto expired = *builds.FailExpired(kT0 + seconds(20), "lease expired");
  REQUIRE(expired.size() == 1);
  auto dead = *builds.Get(a.id);
  CHECK(expired[0] == dead);  // returned as stored
  CHECK(dead.state == BuildState::kFailed);
  CHECK(dead.reason == "lease expired");
  CHECK(dead.finished_at == kT0 + seconds(20));
  CHECK(dead.started_at == kT0);
  CHECK(builds.Get(b.id)->state == BuildState::kRunning);
  CHECK(*builds.Heartbeat(a.id, "dead", kT0 + seconds(60)) == false);
  // Failed once: a later call (another instance's) does not return it again.
  CHECK(builds.FailExpired(kT0 + seconds(25), "lease expired")->empty());

  auto owned = *builds.FailOwnedBy("host_1/10.0.0.1:80", "server restarted", kT0 + seconds(21));
  REQUIRE(owned.size() == 1);
  auto gone = *builds.Get(c.id);
  CHECK(owned[0] == gone);
  CHECK(gone.state == BuildState::kFailed);
  CHECK(gone.reason == "server restarted");
  CHECK(gone.finished_at == kT0 + seconds(21));
  CHECK(builds.Get(d.id)->state == BuildState::kRunning);
  auto other = *builds.FailOwnedBy("host_1/10.0.0.1:8080/0", "server restarted", kT0);
  REQUIRE(other.size() == 1);
  CHECK(other[0].id == d.id);
  CHECK(other[0].state == BuildState::kFailed);
  CHECK(other[0].reason == "server restarted");
  CHECK(builds.FailOwnedBy("nobody", "x", kT0)->empty());
  CHECK(builds.FailOwnedBy("host_1/10.0.0.1:80", "server restarted", kT0)->empty());
}

TEST_CASE("build store: builds failed in bulk come back each once, by id", "[sql][build]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  std::vector<std::int64_t> ids;
  for (const char* project : {"p1", "p2", "p3"}) {
    AddProject(*stores.projects, project);
    ids.push_back(builds.Enqueue(MakeBuild(project, "1"))->id);
  }
  // Two workers of one instance, and one worker that keeps its lease.
  REQUIRE(builds.ClaimNext("gone/0", kT0, kT0 + seconds(10))->has_value());
  REQUIRE(builds.ClaimNext("gone/1", kT0, kT0 + seconds(10))->has_value());
  REQUIRE(builds.ClaimNext("alive", kT0, kT0 + seconds(100))->has_value());

  auto failed = *builds.FailExpired(kT0 + seconds(30), "lease expired");
  REQUIRE(failed.size() == 2);
  CHECK(failed[0].id == ids[0]);
  CHECK(failed[1].id == ids[1]);
  for (const Build& build : failed) {
    CHECK(build.state == BuildState::kFailed);
    CHECK(build.reason == "lease expired");
    CHECK(build.finished_at == kT0 + seconds(30));
    CHECK(build.started_at == kT0);
    CHECK(build == *builds.Get(build.id));  // every column, as stored
  }
  CHECK(builds.FailOwnedBy("gone", "server restarted", kT0 + seconds(31))->empty());
  CHECK(builds.Get(ids[2])->state == BuildState::kRunning);
}

TEST_CASE("build store: log append and offset reads", "[sql][build][log]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "a");
  auto b = *builds.Enqueue(MakeBuild("a", "1"));

  CHECK(builds.AppendLog(99999, "x").error().code == Errc::kBuildNotFound);
  CHECK(builds.ReadLog(99999, 0, 10).error().code == Errc::kBuildNotFound);
  CHECK(builds.ReadLog(b.id, -1, 10).error().code == Errc::kInvalid);

  auto empty = builds.ReadLog(b.id, 0, 100);
  REQUIRE(empty.has_value());
  CHECK(empty->text.empty());
  CHECK(empty->next_offset == 0);
  CHECK_FALSE(empty->finished);

  REQUIRE(builds.ClaimNext("w", kT0, kT0 + seconds(30))->has_value());
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    std::string line = "STEP " + std::to_string(i) + ": echo 'ünïcødé' %_\n";
    REQUIRE(builds.AppendLog(b.id, line).has_value());
    expected += line;
  }
  REQUIRE(builds.AppendLog(b.id, "").has_value());

  auto head = builds.ReadLog(b.id, 0, 10);
  REQUIRE(head.has_value());
  CHECK(head->text == expected.substr(0, 10));
  CHECK(head->next_offset == 10);
  CHECK_FALSE(head->finished);

  auto middle = builds.ReadLog(b.id, 25, 100);
  REQUIRE(middle.has_value());
  // never ends inside a UTF-8 character
  CHECK(expected.compare(25, middle->text.size(), middle->text) == 0);
  CHECK(middle->next_offset == 25 + static_cast<std::int64_t>(middle->text.size()));
  CHECK(middle->text.size() <= 100);
  CHECK(middle->text.size() >= 97);

  // reading in odd step sizes reassembles the whole log
  CHECK(ReadAll(builds, b.id, 7) == expected);
  CHECK(ReadAll(builds, b.id, 1000000) == expected);

  auto end = builds.ReadLog(b.id, static_cast<std::int64_t>(expected.size()), 100);
  REQUIRE(end.has_value());
  CHECK(end->text.empty());
  CHECK_FALSE(end->finished);  // still running

  REQUIRE(builds.Finish(b.id, {BuildState::kFailed, "", 0, "boom"}, kT0).has_value());
  auto partial = builds.ReadLog(b.id, 0, 10);
  REQUIRE(partial.has_value());
  CHECK_FALSE(partial->finished);  // ended, but the reader has not reached the end
  auto tail = builds.ReadLog(b.id, static_cast<std::int64_t>(expected.size()) - 5, 100);
  REQUIRE(tail.has_value());
  CHECK(tail->text == expected.substr(expected.size() - 5));
  CHECK(tail->finished);

  // invalid UTF-8 and NUL bytes are stored as text
  auto other = *builds.Enqueue(MakeBuild("a", "2"));
  REQUIRE(builds
              .AppendLog(other.id, std::string("a\xff"
                                               "b\0c",
                                               5))
              .has_value());
  auto odd = builds.ReadLog(other.id, 0, 100);
  REQUIRE(odd.has_value());
  CHECK(odd->text ==
        "a\xEF\xBF\xBD"
        "bc");
}

TEST_CASE("build store: concurrent appends keep every chunk once, in order",
          "[sql][build][log][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  AddProject(*stores.projects, "a");
  auto b = *stores.builds->Enqueue(MakeBuild("a", "1"));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string line = "t" + std::to_string(t) + "-" + std::to_string(i) + "\n";
        if (!stores.builds->AppendLog(b.id, line)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  std::string all = ReadAll(*stores.builds, b.id, 64);
  std::map<int, int> next;  // per thread, the next line number expected
  int lines = 0;
  std::size_t pos = 0;
  while (pos < all.size()) {
    std::size_t nl = all.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    std::string line = all.substr(pos, nl - pos);
    int t = line[1] - '0';
    int i = std::stoi(line.substr(3));
    CHECK(i == next[t]);
    next[t] = i + 1;
    ++lines;
    pos = nl + 1;
  }
  CHECK(lines == 80);
}

TEST_CASE("build store: concurrent claims take each build once, one per project",
          "[sql][build][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db, 4);
  // A second pool on the same database stands in for a second server process.
  auto second = OpenOrFail(db, 4);
  auto& builds = *stores.builds;
  constexpr int kProjects = 6;
  constexpr int kPerProject = 4;
  for (int p = 0; p < kProjects; ++p) {
    AddProject(*stores.projects, "p" + std::to_string(p));
    for (int i = 0; i < kPerProject; ++i) {
      REQUIRE(builds.Enqueue(MakeBuild("p" + std::to_string(p), std::to_string(i))).has_value());
    }
  }

  std::mutex mutex;
  std::set<std::int64_t> claimed;
  std::map<std::string, int> running;  // project -> builds running now
  std::atomic<int> duplicates{0}, overlaps{0}, errors{0}, done{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&, w] {
      std::string name = "worker" + std::to_string(w);
      market::BuildStore& store = w % 2 == 0 ? *stores.builds : *second.builds;
      for (int spins = 0; spins < 2000 && done < kProjects * kPerProject; ++spins) {
        auto next = store.ClaimNext(name, kT0, kT0 + seconds(60));
        if (!next) {
          ++errors;
          UNSCOPED_INFO("claim: " << next.error().message);
          continue;
        }
        if (!next->has_value()) {
          std::this_thread::yield();
          continue;
        }
        const Build& b = **next;
        {
          std::lock_guard lock(mutex);
          if (!claimed.insert(b.id).second) ++duplicates;
          if (++running[b.project] > 1) ++overlaps;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        {
          std::lock_guard lock(mutex);
          --running[b.project];
        }
        if (!store.Finish(b.id, {BuildState::kSucceeded, "sha256:x", 1, ""}, kT0)) ++errors;
        ++done;
      }
    });
  }
  for (auto& t : workers) t.join();
  CHECK(duplicates == 0);
  CHECK(overlaps == 0);
  CHECK(errors == 0);
  CHECK(claimed.size() == kProjects * kPerProject);
  CHECK(*builds.QueueDepth() == 0);
}

TEST_CASE("build store: logs outside both bounds are pruned oldest first in batches",
          "[sql][build][log][retention]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  for (const char* project : {"a", "b", "c"}) AddProject(*stores.projects, project);
  // Project a: four ended builds and a running one, the newest.
  const Build a1 = Ended(builds, "a", "1", kT0);
  const Build a2 = Ended(builds, "a", "2", kT0 + days(1), BuildState::kFailed);
  const Build a3 = Ended(builds, "a", "3", kT0 + days(10));
  const Build a4 = Ended(builds, "a", "4", kT0);
  const Build a5 = *builds.Enqueue(MakeBuild("a", "5"));
  REQUIRE(builds.ClaimNext("w", kT0, kT0 + days(365))->has_value());
  // Project b: an old build, then one cancelled while queued, then another old one.
  const Build b1 = Ended(builds, "b", "1", kT0, BuildState::kCancelled);
  const Build b2 = *builds.Enqueue(MakeBuild("b", "2"));
  REQUIRE(builds.RequestCancel(b2.id, "no", kT0).has_value());
  const Build b3 = Ended(builds, "b", "3", kT0);
  // Project c: a build still running and one queued behind it, both old and outside the two
  // newest, then two cancelled.
  const Build c1 = *builds.Enqueue(MakeBuild("c", "1"));
  REQUIRE(builds.ClaimNext("w", kT0, kT0 + days(365))->has_value());
  REQUIRE(builds.AppendLog(c1.id, "still building\n").has_value());
  const Build c2 = *builds.Enqueue(MakeBuild("c", "2"));
  REQUIRE(builds.AppendLog(c2.id, "waiting\n").has_value());
  std::vector<std::int64_t> all = {a1.id, a2.id, a3.id, a4.id, a5.id,
                                   b1.id, b2.id, b3.id, c1.id, c2.id};
  for (const char* tag : {"3", "4"}) {
    const std::int64_t id = builds.Enqueue(MakeBuild("c", tag))->id;
    REQUIRE(builds.RequestCancel(id, "no", kT0));
    all.push_back(id);
  }

  // Each project's two newest builds keep their logs, and so do builds that ended in the last
  // 20 days (since day 5): a3 by its age; a1, a2 and b1 by neither.
  market::LogKeepRule rule;
  rule.newest_builds = 2;
  rule.finished_since = kT0 + days(5);
  const market::TimePoint now = kT0 + days(25);
  auto first = builds.PruneLogs(rule, 0, 2, now);
  REQUIRE(first.has_value());
  CHECK(first->pruned == 2);
  CHECK(first->last_id == a2.id);
  CHECK(first->more);
  CHECK(Pruned(builds, all) == std::set<std::int64_t>{a1.id, a2.id});
  auto second = builds.PruneLogs(rule, first->last_id, 2, now);
  REQUIRE(second.has_value());
  CHECK(second->pruned == 1);
  CHECK(second->last_id == b1.id);
  CHECK_FALSE(second->more);
  CHECK(Pruned(builds, all) == std::set<std::int64_t>{a1.id, a2.id, b1.id});
  // A new pass finds nothing left.
  auto again = builds.PruneLogs(rule, 0, 100, now);
  REQUIRE(again.has_value());
  CHECK(again->pruned == 0);
  CHECK(again->last_id == 0);
  CHECK_FALSE(again->more);

  // The rows stay as they were but for the mark; only the pruned logs' rows are gone.
  for (const Build& before : {a1, a2, b1}) {
    Build after = *builds.Get(before.id);
    CHECK(after.log_pruned);
    after.log_pruned = false;
    CHECK(after == before);
    CHECK(LogRows(db, before.id) == 0);
  }
  CHECK(builds.Get(a5.id)->state == BuildState::kRunning);
  CHECK(builds.Get(c1.id)->state == BuildState::kRunning);
  CHECK(builds.Get(c2.id)->state == BuildState::kQueued);
  for (const Build& kept : {a3, a4, b3}) CHECK(LogRows(db, kept.id) == 1);
  CHECK(LogRows(db, c1.id) == 1);
  CHECK(LogRows(db, c2.id) == 1);
  CHECK(ReadAll(builds, a3.id, 100) == "log of a:3\n");
  auto history = builds.ListForProject("a", 1, 10);
  REQUIRE(history.has_value());
  REQUIRE(history->builds.size() == 5);
  CHECK(history->builds[4].log_pruned);        // a1
  CHECK_FALSE(history->builds[2].log_pruned);  // a3

  // Later the running build has ended and time has passed: a3 is old now, c1 outside the two
  // newest of c; a4 and a5 stay the newest of a.
  REQUIRE(builds.Finish(c1.id, {BuildState::kSucceeded, "", 0, ""}, kT0 + days(26)));
  rule.finished_since = kT0 + days(30);
  auto later = builds.PruneLogs(rule, 0, 100, kT0 + days(50));
  REQUIRE(later.has_value());
  CHECK(later->pruned == 2);
  CHECK(Pruned(builds, all) == std::set<std::int64_t>{a1.id, a2.id, a3.id, b1.id, c1.id});
}

TEST_CASE("build store: a lifted bound leaves the other to decide and both lifted keep every log",
          "[sql][build][log][retention]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "p");
  const Build p1 = Ended(builds, "p", "1", kT0);
  const Build p2 = Ended(builds, "p", "2", kT0 + days(10));
  const Build p3 = Ended(builds, "p", "3", kT0 + days(20));
  const std::vector<std::int64_t> all = {p1.id, p2.id, p3.id};
  const market::TimePoint now = kT0 + days(1000);

  market::LogKeepRule keep_all;
  CHECK(keep_all.KeepsAll());
  auto none = builds.PruneLogs(keep_all, 0, 100, now);
  REQUIRE(none.has_value());
  CHECK(none->pruned == 0);
  CHECK(Pruned(builds, all).empty());

  // The count alone: the two newest keep theirs however old.
  market::LogKeepRule by_count;
  by_count.newest_builds = 2;
  CHECK(builds.PruneLogs(by_count, 0, 100, now)->pruned == 1);
  CHECK(Pruned(builds, all) == std::set<std::int64_t>{p1.id});

  // The age alone: what ended before day 15 goes, p1 is not counted twice.
  market::LogKeepRule by_age;
  by_age.finished_since = kT0 + days(15);
  CHECK(builds.PruneLogs(by_age, 0, 100, now)->pruned == 1);
  CHECK(Pruned(builds, all) == std::set<std::int64_t>{p1.id, p2.id});
  CHECK(LogRows(db, p3.id) == 1);

  auto no_limit = builds.PruneLogs(by_age, 0, 0, now);
  REQUIRE_FALSE(no_limit.has_value());
  CHECK(no_limit.error().code == Errc::kInvalid);
  CHECK_THAT(no_limit.error().message, Catch::Contains("limit"));
  market::LogKeepRule negative;
  negative.newest_builds = -1;
  auto bad = builds.PruneLogs(negative, 0, 10, now);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::kInvalid);
  CHECK_THAT(bad.error().message, Catch::Contains("build-log-keep"));
}

TEST_CASE("build store: a pruned log reads as the retention notice and takes no more text",
          "[sql][build][log][retention]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& builds = *stores.builds;
  AddProject(*stores.projects, "p");
  const Build old = Ended(builds, "p", "1", kT0);
  for (int i = 0; i < 3; ++i) REQUIRE(builds.AppendLog(old.id, std::string(5000, 'x')));
  Ended(builds, "p", "2", kT0);
  market::LogKeepRule rule;
  rule.newest_builds = 1;
  REQUIRE(builds.PruneLogs(rule, 0, 10, kT0)->pruned == 1);

  const std::string notice(market::kPrunedLogText);
  const auto size = static_cast<std::int64_t>(notice.size());
  auto whole = builds.ReadLog(old.id, 0, 1 << 20);
  REQUIRE(whole.has_value());
  CHECK(whole->text == notice);
  CHECK(whole->next_offset == size);
  CHECK(whole->finished);
  auto head = builds.ReadLog(old.id, 0, 10);
  REQUIRE(head.has_value());
  CHECK(head->text == notice.substr(0, 10));
  CHECK(head->next_offset == 10);
  CHECK_FALSE(head->finished);
  CHECK(ReadAll(builds, old.id, 7) == notice);
  // A reader that was further into the old log ends.
  auto beyond = builds.ReadLog(old.id, 12000, 100);
  REQUIRE(beyond.has_value());
  CHECK(beyond->text.empty());
  CHECK(beyond->next_offset == 12000);
  CHECK(beyond->finished);

  // A worker that lost its lease may still write: nothing is stored.
  REQUIRE(builds.AppendLog(old.id, "late line\n").has_value());
  CHECK(ReadAll(builds, old.id, 1000) == notice);
  CHECK(LogRows(db, old.id) == 0);
}

TEST_CASE("build store: instances pruning at once prune each log once without errors",
          "[sql][build][log][retention][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  constexpr int kProjects = 4;
  constexpr int kPerProject = 15;
  std::vector<std::int64_t> ids;
  for (int p = 0; p < kProjects; ++p) {
    const std::string project = "p" + std::to_string(p);
    AddProject(*stores.projects, project);
    for (int i = 0; i < kPerProject; ++i) {
      ids.push_back(Ended(*stores.builds, project, std::to_string(i), kT0).id);
    }
  }
  market::LogKeepRule rule;
  rule.newest_builds = 3;
  rule.finished_since = kT0 + days(1);
  // Two instances, each with its own sessions, run whole passes in small batches at once.
  auto other = OpenOrFail(db);
  std::atomic<int> pruned{0};
  std::atomic<int> errors{0};
  auto pass = [&](market::BuildStore& builds) {
    std::int64_t after = 0;
    for (;;) {
      auto batch = builds.PruneLogs(rule, after, 2, kT0 + days(2));
      if (!batch) {
        ++errors;
        return;
      }
      pruned += batch->pruned;
      if (!batch->more) return;
      after = batch->last_id;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] { pass(*stores.builds); });
    threads.emplace_back([&] { pass(*other.builds); });
  }
  for (auto& thread : threads) thread.join();
  CHECK(errors == 0);
  constexpr int kExpected = kProjects * (kPerProject - 3);
  CHECK(pruned == kExpected);
  CHECK(Pruned(*stores.builds, ids).size() == static_cast<std::size_t>(kExpected));
}

TEST_CASE("stores: a PostgreSQL session killed by the server recovers", "[sql][postgres]") {
  if (!market::testing::PostgresUrl()) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: PostgreSQL recovery test skipped");
    return;
  }
  TestDatabase db(Backend::kPostgres);
  auto stores = OpenOrFail(db, 2);
  AddProject(*stores.projects, "p");
  REQUIRE(stores.projects->Ping().has_value());

  // Kill every session of the pool while it sits idle (waiting up to 5 s for each to end).
  db.AdminExec("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '" +
               db.database_name() + "'");

  // The next calls work: the pool notices the dead connections and reconnects.
  for (int i = 0; i < 4; ++i) {
    auto got = stores.projects->Get("p");
    if (!got) FAIL("Get after the kill: " << got.error().message);
    CHECK(got->name == "p");
  }
  CHECK(stores.builds->QueueDepth().has_value());
}

TEST_CASE("stores: a PostgreSQL session lost mid-request is kUnavailable, then recovers",
          "[sql][postgres]") {
  if (!market::testing::PostgresUrl()) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: PostgreSQL recovery test skipped");
    return;
  }
  TestDatabase db(Backend::kPostgres);
  auto stores = OpenOrFail(db, 1);
  AddProject(*stores.projects, "p");
  // A trigger makes the pool's only session kill its own backend while it inserts a build
  // tagged "kill": the server closes the connection in the middle of the request.
  db.Exec(
      "CREATE FUNCTION kill_self() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "IF NEW.tag = 'kill' THEN PERFORM pg_terminate_backend(pg_backend_pid()); "
      "PERFORM pg_sleep(5); END IF; RETURN NEW; END $$");
  db.Exec(
      "CREATE TRIGGER kill_self BEFORE INSERT ON builds FOR EACH ROW EXECUTE FUNCTION "
      "kill_self()");
  auto lost = stores.builds->Enqueue(MakeBuild("p", "kill"));
  REQUIRE_FALSE(lost.has_value());
  CHECK(lost.error().code == Errc::kUnavailable);
  INFO(lost.error().message);

  auto next = stores.builds->Enqueue(MakeBuild("p", "fine"));
  if (!next) FAIL("Enqueue after the lost connection: " << next.error().message);
  CHECK(next->tag == "fine");
  CHECK(*stores.builds->QueueDepth() == 1);  // the killed insert did not commit
}
