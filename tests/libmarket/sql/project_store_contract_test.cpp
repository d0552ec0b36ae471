// The ProjectStore contract, run against every available backend (SQLite always, PostgreSQL
// when MARKET_TEST_POSTGRES_URL is set).

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "market/build_store.hpp"
#include "market/project_store.hpp"
#include "market/store.hpp"
#include "support/test_stores.hpp"
#include "store_contract_support.hpp"

using market::Errc;
using market::Project;
using market::testing::Backend;
using market::testing::TestDatabase;

using market::testing::OpenOrFail;
using market::testing::PickBackend;

namespace {

const market::TimePoint kT0{std::chrono::milliseconds{1'790'000'000'123}};

Project MakeProject(const std::string& name) {
  Project p;
  p.name = name;
  p.creator = "alice";
  p.create_time = kT0;
  p.last_modify_time = kT0;
  p.last_modify_operator = "alice";
  p.cluster = "team-a";
  p.define_type = market::DockerfileType::kTool;
  p.pipeline = {
      {"base_image", {{"image", std::string("127.0.0.1:5000/base/busybox:1")}}},
      {"run", {{"value", std::vector<std::string>{"echo 1", "echo 'two' \"2\""}}}},
      {"env_set",
       {{"key", std::vector<std::string>{"A"}}, {"value", std::vector<std::string>{"1"}}}},
  };
  return p;
}

// The names of a page's projects, in order.
std::vector<std::string> Names(const market::ProjectPage& page) {
  std::vector<std::string> out;
  for (const auto& p : page.projects) out.push_back(p.name);
  return out;
}

// A listed page as its names, then "total=N": one value to compare in a CHECK.
std::vector<std::string> ListedNames(market::ProjectStore& store,
                                     const market::ProjectListQuery& query) {
  auto listed = store.List(query);
  REQUIRE(listed);
  std::vector<std::string> out = Names(*listed);
  out.push_back("total=" + std::to_string(listed->total_count));
  return out;
}

market::ProjectListQuery Query(int page, int page_size, std::string filter = "",
                               std::optional<std::string> after = std::nullopt) {
  market::ProjectListQuery q;
  q.page = page;
  q.page_size = page_size;
  q.name_filter = std::move(filter);
  q.after = std::move(after);
  return q;
}

// An INSERT of bare project rows named `names`, written with SQL as an operator or an older
// program would, past the store and its checks.
std::string InsertRawProjects(const std::vector<std::string>& names) {
  std::string sql =
      "INSERT INTO projects (name, creator, create_time, last_modify_time, "
      "last_modify_operator, cluster, define_type, pipeline) VALUES ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    sql += (i == 0 ? "('" : ", ('") + names[i] + "', 'a', 0, 0, 'a', 'c', 'tool', '[]')";
  }
  return sql;
}

market::Build MakeBuild(const std::string& project, const std::string& tag) {
  market::Build b;
  b.project = project;
  b.tag = tag;
  b.operator_name = "bob";
  b.image = "127.0.0.1:5000/team-a/" + project + ":" + tag;
  b.queued_at = kT0;
  return b;
}

}  // namespace

TEST_CASE("project store: insert, get and their error codes", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;

  Project p = MakeProject("app");
  REQUIRE(store.Insert(p).has_value());
  auto got = store.Get("app");
  REQUIRE(got.has_value());
  CHECK(*got == p);

  auto again = store.Insert(p);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == Errc::kAlreadyExists);

  auto missing = store.Get("nope");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Errc::kNotFound);

  CHECK(store.Ping().has_value());
}

TEST_CASE("project store: a reused read statement sees other sessions' writes at once",
          "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  // Two processes' worth of stores on one database, one session each: the reader's prepared
  // point read must not keep an old snapshot between calls.
  auto reader = OpenOrFail(db, 1);
  auto writer = OpenOrFail(db, 1);
  Project p = MakeProject("shared");
  REQUIRE(writer.projects->Insert(p));
  for (int round = 0; round < 3; ++round) {
    auto seen = reader.projects->Get("shared");
    REQUIRE(seen);
    CHECK(seen->cluster == p.cluster);
    p.cluster = "team-" + std::to_string(round);
    p.last_modify_time += std::chrono::seconds(1);
    REQUIRE(writer.projects->Save(p, market::SaveMode::kUpdate));
  }
  CHECK(reader.projects->Get("shared")->cluster == "team-2");
  REQUIRE(writer.projects->Remove("shared"));
  CHECK(reader.projects->Get("shared").error().code == Errc::kNotFound);
  CHECK(reader.projects->Get("nope").error().code == Errc::kNotFound);
}

TEST_CASE("project store: values with quotes and unicode round-trip unchanged", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  Project p = MakeProject("quoted");
  p.creator = "o'brien; DROP TABLE projects; --";
  p.pipeline = {
      {"static_dockerfile", {{"value", std::string("FROM x\nRUN echo '%_' \"\\\" 中文 ✓\n")}}}};
  p.define_type = market::DockerfileType::kEdit;
  REQUIRE(stores.projects->Insert(p).has_value());
  auto got = stores.projects->Get("quoted");
  REQUIRE(got.has_value());
  CHECK(*got == p);
}

TEST_CASE("project store: save add and update", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;

  Project p = MakeProject("svc");
  auto added = store.Save(p, market::SaveMode::kAdd);
  REQUIRE(added.has_value());
  CHECK(*added == p);

  auto dup = store.Save(p, market::SaveMode::kAdd);
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().code == Errc::kAlreadyExists);

  Project change = p;
  change.creator = "mallory";  // must be ignored: the creator is kept
  change.create_time = kT0 + std::chrono::hours(5);
  change.last_modify_time = kT0 + std::chrono::minutes(3);
  change.last_modify_operator = "carol";
  change.cluster = "team-b";
  change.define_type = market::DockerfileType::kDownload;
  change.pipeline = {{"download_dockerfile", {{"url", std::string("http://x/Dockerfile")}}}};
  auto updated = store.Save(change, market::SaveMode::kUpdate);
  REQUIRE(updated.has_value());
  CHECK(updated->creator == "alice");
  CHECK(updated->create_time == kT0);
  CHECK(updated->last_modify_time == change.last_modify_time);
  CHECK(updated->last_modify_operator == "carol");
  CHECK(updated->cluster == "team-b");
  CHECK(updated->define_type == market::DockerfileType::kDownload);
  CHECK(updated->pipeline == change.pipeline);
  CHECK(*store.Get("svc") == *updated);

  // update of a missing project creates it, as the original did
  Project fresh = MakeProject("fresh");
  auto created = store.Save(fresh, market::SaveMode::kUpdate);
  REQUIRE(created.has_value());
  CHECK(*created == fresh);
}

TEST_CASE("project store: remove and its error codes", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;
  auto& builds = *stores.builds;

  auto missing = store.Remove("ghost");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Errc::kDeleteTargetMissing);

  REQUIRE(store.Insert(MakeProject("web")).has_value());
  auto queued = builds.Enqueue(MakeBuild("web", "v1"));
  REQUIRE(queued.has_value());

  auto refused = store.Remove("web");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::kBuildActive);

  auto claimed = builds.ClaimNext("w1", kT0, kT0 + std::chrono::seconds(30));
  REQUIRE(claimed.has_value());
  REQUIRE(claimed->has_value());
  auto still = store.Remove("web");
  REQUIRE_FALSE(still.has_value());
  CHECK(still.error().code == Errc::kBuildActive);

  REQUIRE(builds.Finish(queued->id, {market::BuildState::kSucceeded, "sha256:ab", 10, ""}, kT0)
              .has_value());
  REQUIRE(store.Remove("web").has_value());
  CHECK(store.Get("web").error().code == Errc::kNotFound);
  // the build history goes with the project
  CHECK(builds.Get(queued->id).error().code == Errc::kBuildNotFound);
  // and the name can be used again
  CHECK(store.Insert(MakeProject("web")).has_value());
}

TEST_CASE("project store: remove racing enqueue never leaves a build without its project",
          "[sql][project][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  for (int round = 0; round < 10; ++round) {
    std::string name = "race" + std::to_string(round);
    REQUIRE(stores.projects->Insert(MakeProject(name)).has_value());
    market::Result<market::Build> enqueued;
    market::Result<void> removed;
    std::thread a([&] { enqueued = stores.builds->Enqueue(MakeBuild(name, "t")); });
    std::thread b([&] { removed = stores.projects->Remove(name); });
    a.join();
    b.join();
    if (removed.has_value()) {
      // the remove went first: the enqueue saw no project
      REQUIRE_FALSE(enqueued.has_value());
      CHECK(enqueued.error().code == Errc::kBuildProjectMissing);
    } else {
      CHECK(removed.error().code == Errc::kBuildActive);
      REQUIRE(enqueued.has_value());
      CHECK(stores.builds->Get(enqueued->id).has_value());
    }
  }
}

TEST_CASE("project store: clone copies config and pipeline exactly", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;

  Project src = MakeProject("origin");
  src.define_type = market::DockerfileType::kEdit;
  src.pipeline = {{"static_dockerfile", {{"value", std::string("FROM a\nRUN b\n")}}}};
  REQUIRE(store.Insert(src).has_value());

  Project copy;
  copy.name = "copy";
  copy.creator = "dave";
  copy.create_time = kT0 + std::chrono::hours(1);
  copy.last_modify_time = kT0 + std::chrono::hours(1);
  copy.last_modify_operator = "dave";
  copy.cluster = "ignored";  // the source's cluster is copied
  auto cloned = store.Clone("origin", copy);
  REQUIRE(cloned.has_value());
  CHECK(cloned->name == "copy");
  CHECK(cloned->creator == "dave");
  CHECK(cloned->last_modify_operator == "dave");
  CHECK(cloned->create_time == copy.create_time);
  CHECK(cloned->cluster == src.cluster);
  CHECK(cloned->define_type == src.define_type);
  CHECK(cloned->pipeline == src.pipeline);
  CHECK(*store.Get("copy") == *cloned);

  auto no_source = store.Clone("absent", copy);
  REQUIRE_FALSE(no_source.has_value());
  CHECK(no_source.error().code == Errc::kCloneSourceMissing);

  auto taken = store.Clone("origin", copy);
  REQUIRE_FALSE(taken.has_value());
  CHECK(taken.error().code == Errc::kAlreadyExists);
}

TEST_CASE("project store: list pages, filters literally, counts", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;

  // Names are stored as given: the store does not validate, so `%` and `_` can be tested.
  for (std::string name : {"alpha", "beta", "gamma", "delta", "a_b", "axb", "100%", "1000"}) {
    REQUIRE(store.Insert(MakeProject(name)).has_value());
  }
  auto all = store.List(Query(1, 100));
  REQUIRE(all.has_value());
  CHECK(all->total_count == 8);
  CHECK(Names(*all) ==
        std::vector<std::string>{"100%", "1000", "a_b", "alpha", "axb", "beta", "delta", "gamma"});
  CHECK(all->projects.front() == MakeProject("100%"));

  auto page2 = store.List(Query(2, 3));
  REQUIRE(page2.has_value());
  CHECK(page2->total_count == 8);
  REQUIRE(page2->projects.size() == 3);
  CHECK(page2->projects[0].name == "alpha");
  CHECK(page2->projects[2].name == "beta");

  auto past_end = store.List(Query(5, 3));
  REQUIRE(past_end.has_value());
  CHECK(past_end->projects.empty());
  CHECK(past_end->total_count == 8);

  auto underscore = store.List(Query(1, 10, "_"));
  REQUIRE(underscore.has_value());
  CHECK(underscore->total_count == 1);
  REQUIRE(underscore->projects.size() == 1);
  CHECK(underscore->projects[0].name == "a_b");

  auto percent = store.List(Query(1, 10, "0%"));
  REQUIRE(percent.has_value());
  CHECK(percent->total_count == 1);
  REQUIRE(percent->projects.size() == 1);
  CHECK(percent->projects[0].name == "100%");

  auto sub = store.List(Query(1, 1, "ta"));
  REQUIRE(sub.has_value());
  CHECK(sub->total_count == 2);  // beta, delta
  REQUIRE(sub->projects.size() == 1);
  CHECK(sub->projects[0].name == "beta");

  auto none = store.List(Query(1, 10, "zzz"));
  REQUIRE(none.has_value());
  CHECK(none->total_count == 0);
  CHECK(none->projects.empty());

  auto quote = store.List(Query(1, 10, "'"));
  REQUIRE(quote.has_value());
  CHECK(quote->total_count == 0);

  // keyset: names after the cursor, the page number unused
  auto after = store.List(Query(1, 2, "", std::string("axb")));
  REQUIRE(after.has_value());
  REQUIRE(after->projects.size() == 2);
  CHECK(after->projects[0].name == "beta");
  CHECK(after->projects[1].name == "delta");
  CHECK(after->total_count == 8);
  auto after_filtered = store.List(Query(1, 5, "a", std::string("beta")));
  REQUIRE(after_filtered.has_value());
  REQUIRE(after_filtered->projects.size() == 2);
  CHECK(after_filtered->projects[0].name == "delta");
  CHECK(after_filtered->projects[1].name == "gamma");

  auto bad = store.List(Query(0, 10));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::kInvalid);
}

TEST_CASE("project store: reused list statements take each call's arguments", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  // One session: every list of one shape runs the same prepared statement again.
  auto reader = OpenOrFail(db, 1);
  auto writer = OpenOrFail(db, 1);
  for (std::string name : {"app-1", "app-2", "app-3", "web-1", "web-2"}) {
    REQUIRE(writer.projects->Insert(MakeProject(name)));
  }
  for (int round = 0; round < 2; ++round) {
    auto app = reader.projects->List(Query(1, 10, "app"));
    REQUIRE(app);
    CHECK(app->total_count == 3);
    CHECK(Names(*app) == std::vector<std::string>{"app-1", "app-2", "app-3"});
    auto web = reader.projects->List(Query(1, 10, "web"));
    REQUIRE(web);
    CHECK(web->total_count == 2);
    CHECK(Names(*web) == std::vector<std::string>{"web-1", "web-2"});
    auto second = reader.projects->List(Query(2, 2));
    REQUIRE(second);
    CHECK(Names(*second) == std::vector<std::string>{"app-3", "web-1"});
    auto third = reader.projects->List(Query(3, 2));
    REQUIRE(third);
    CHECK(Names(*third) == std::vector<std::string>{"web-2"});
    auto after = reader.projects->List(Query(1, 2, "", "app-2"));
    REQUIRE(after);
    CHECK(Names(*after) == std::vector<std::string>{"app-3", "web-1"});
    auto filtered_deep = reader.projects->List(Query(2, 2, "app"));
    REQUIRE(filtered_deep);
    CHECK(Names(*filtered_deep) == std::vector<std::string>{"app-3"});
    CHECK(reader.projects->List(Query(1, 10, "zzz"))->projects.empty());
  }
  // A write through another session shows in the next call of the same statements.
  REQUIRE(writer.projects->Insert(MakeProject("app-0")));
  auto app = reader.projects->List(Query(1, 10, "app"));
  REQUIRE(app);
  CHECK(app->total_count == 4);
  CHECK(Names(*app).front() == "app-0");
  auto all = reader.projects->List(Query(1, 10));
  REQUIRE(all);
  CHECK(all->total_count == 6);
}

TEST_CASE("project store: the trigram-served filter stays exact and follows every write",
          "[sql][project]") {
  // Filters of three characters or more are served by a trigram index on both backends
  // (pg_trgm; SQLite FTS5, which folds case): the answers must still be exact substrings,
  // case included, and follow inserts, saves, clones and removes at once.
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;
  for (std::string name :
       {"Alpha-1", "alpha-2", "ALPHA-3", "beta-alpha", "q\"uote\"d", "ünïcödé"}) {
    REQUIRE(store.Insert(MakeProject(name)));
  }
  auto names = [&](const std::string& filter, int page = 1, int size = 10) {
    return ListedNames(store, Query(page, size, filter));
  };
  CHECK(names("alpha") == std::vector<std::string>{"alpha-2", "beta-alpha", "total=2"});
  CHECK(names("ALPHA") == std::vector<std::string>{"ALPHA-3", "total=1"});
  CHECK(names("lpha-") == std::vector<std::string>{"Alpha-1", "alpha-2", "total=2"});
  CHECK(names("\"uote\"") == std::vector<std::string>{"q\"uote\"d", "total=1"});
  CHECK(names("ïcö") == std::vector<std::string>{"ünïcödé", "total=1"});
  CHECK(names("xyz") == std::vector<std::string>{"total=0"});
  // A page past the first of a filtered list, as offset and as cursor.
  CHECK(names("lpha", 2, 2) == std::vector<std::string>{"beta-alpha", "total=3"});
  auto after = store.List(Query(1, 2, "lpha", "Alpha-1"));
  REQUIRE(after);
  REQUIRE(after->projects.size() == 2);
  CHECK(after->projects[0].name == "alpha-2");

  REQUIRE(store.Remove("alpha-2"));
  REQUIRE(store.Save(MakeProject("gamma-alpha"), market::SaveMode::kUpdate));  // creates it
  REQUIRE(store.Save(MakeProject("beta-alpha"), market::SaveMode::kUpdate));   // updates it
  REQUIRE(store.Clone("beta-alpha", MakeProject("delta-alpha")));
  CHECK(names("alpha") ==
        std::vector<std::string>{"beta-alpha", "delta-alpha", "gamma-alpha", "total=3"});
  // and the index survives reopening
  auto reopened = OpenOrFail(db);
  auto again = reopened.projects->List(Query(1, 10, "-alpha"));
  REQUIRE(again);
  CHECK(again->total_count == 3);
}

TEST_CASE("project store: total_count follows inserts, saves, clones and removes",
          "[sql][project]") {
  // The unfiltered count is kept by triggers (migration 3), not counted on each call.
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;
  auto total = [&] {
    auto page = store.List(Query(1, 1));
    REQUIRE(page.has_value());
    return page->total_count;
  };
  CHECK(total() == 0);
  REQUIRE(store.Insert(MakeProject("one")).has_value());
  REQUIRE(store.Insert(MakeProject("two")).has_value());
  CHECK(total() == 2);
  CHECK_FALSE(store.Insert(MakeProject("two")).has_value());
  CHECK(total() == 2);
  REQUIRE(store.Save(MakeProject("two"), market::SaveMode::kUpdate).has_value());
  CHECK(total() == 2);  // an update, not an insert
  REQUIRE(store.Save(MakeProject("three"), market::SaveMode::kUpdate).has_value());
  CHECK(total() == 3);  // update of a missing project creates it
  CHECK_FALSE(store.Save(MakeProject("three"), market::SaveMode::kAdd).has_value());
  REQUIRE(store.Clone("one", MakeProject("four")).has_value());
  CHECK(total() == 4);
  REQUIRE(store.Remove("two").has_value());
  CHECK_FALSE(store.Remove("two").has_value());
  CHECK(total() == 3);
  // and survives reopening (the count is stored, not cached)
  auto reopened = OpenOrFail(db);
  auto page = reopened.projects->List(Query(1, 10));
  REQUIRE(page.has_value());
  CHECK(page->total_count == 3);
}

TEST_CASE("project store: filters with separators, wildcards and deep pages", "[sql][project]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;
  for (std::string name : {"alpha-beta", "alphabeta", "xha-bex", "ha_be", "a\\b", "ab", "zha-be"}) {
    REQUIRE(store.Insert(MakeProject(name)).has_value());
  }
  // "ha-be": the separator matters (alphabeta does not match), `_` is not a wildcard
  auto sep = store.List(Query(1, 10, "ha-be"));
  REQUIRE(sep.has_value());
  CHECK(sep->total_count == 3);
  CHECK(Names(*sep) == std::vector<std::string>{"alpha-beta", "xha-bex", "zha-be"});
  auto backslash = store.List(Query(1, 10, "\\"));
  REQUIRE(backslash.has_value());
  CHECK(Names(*backslash) == std::vector<std::string>{"a\\b"});
  auto underscore = store.List(Query(1, 10, "a_b"));
  REQUIRE(underscore.has_value());
  CHECK(Names(*underscore) == std::vector<std::string>{"ha_be"});
  // deep pages, filtered and not, past the end, and the cursor on a filter
  auto second = store.List(Query(2, 1, "ha-be"));
  REQUIRE(second.has_value());
  CHECK(second->total_count == 3);
  CHECK(Names(*second) == std::vector<std::string>{"xha-bex"});
  auto all = store.List(Query(1, 10));
  REQUIRE(all.has_value());
  REQUIRE(all->projects.size() == 7);
  auto third = store.List(Query(3, 2));
  REQUIRE(third.has_value());
  CHECK(Names(*third) == std::vector<std::string>{all->projects[4].name, all->projects[5].name});
  auto beyond = store.List(Query(4, 3));
  REQUIRE(beyond.has_value());
  CHECK(beyond->projects.empty());
  CHECK(beyond->total_count == 7);
  auto cursor = store.List(Query(1, 10, "ha-be", std::string("alpha-beta")));
  REQUIRE(cursor.has_value());
  CHECK(Names(*cursor) == std::vector<std::string>{"xha-bex", "zha-be"});
}

TEST_CASE("project store: filters with a run of five letters or digits stay exact",
          "[sql][project]") {
  // A filter with a run of 5 or more ASCII letters and digits asks the index of names'
  // 5-character pieces (PostgreSQL migration 7, SQLite 8); shorter runs ask the trigram
  // indexes. The pieces are cut within runs, so the cases below put the filter's runs inside
  // longer runs of the name, at a name's edges, next to separators and next to non-ASCII
  // letters.
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  auto& store = *stores.projects;
  for (std::string name : {"bench-0004200", "bench-1000420", "x00042", "00042", "0004-2",
                           "Bench-00042", "svc.payments-api", "payments", "paymentsapi",
                           "xé12345é", "a1234b", "tenant-a-payments-v2"}) {
    REQUIRE(store.Insert(MakeProject(name)));
  }
  auto names = [&](const std::string& filter) { return ListedNames(store, Query(1, 20, filter)); };
  CHECK(names("00042") == std::vector<std::string>{"00042", "Bench-00042", "bench-0004200",
                                                   "bench-1000420", "x00042", "total=5"});
  CHECK(names("ch-00042") ==
        std::vector<std::string>{"Bench-00042", "bench-0004200", "total=2"});  // both runs
  CHECK(names("Bench-00042") == std::vector<std::string>{"Bench-00042", "total=1"});  // case
  CHECK(names("0004200") == std::vector<std::string>{"bench-0004200", "total=1"});
  CHECK(names("0004-2") == std::vector<std::string>{"0004-2", "total=1"});  // no run of 5
  CHECK(names("payments") == std::vector<std::string>{"payments", "paymentsapi",
                                                      "svc.payments-api",
                                                      "tenant-a-payments-v2", "total=4"});
  CHECK(names("payments-a") ==
        std::vector<std::string>{"svc.payments-api", "total=1"});  // not "paymentsapi"
  CHECK(names("s-api") == std::vector<std::string>{"svc.payments-api", "total=1"});
  CHECK(names("12345") == std::vector<std::string>{"xé12345é", "total=1"});
  CHECK(names("é12345é") == std::vector<std::string>{"xé12345é", "total=1"});
  CHECK(names("1234b") == std::vector<std::string>{"a1234b", "total=1"});
  CHECK(names("a1234b.") == std::vector<std::string>{"total=0"});
  CHECK(names("99999") == std::vector<std::string>{"total=0"});
  // A page past the first and a cursor, on the gram index.
  CHECK(ListedNames(store, Query(2, 2, "00042")) ==
        std::vector<std::string>{"bench-0004200", "bench-1000420", "total=5"});
  CHECK(ListedNames(store, Query(1, 2, "00042", std::string("bench-1000420"))) ==
        std::vector<std::string>{"x00042", "total=5"});
  // Writes show at once: a rename by remove and insert, a clone.
  REQUIRE(store.Remove("x00042"));
  REQUIRE(store.Clone("payments", MakeProject("y00042z")));
  CHECK(names("00042") == std::vector<std::string>{"00042", "Bench-00042", "bench-0004200",
                                                   "bench-1000420", "y00042z", "total=5"});
}

TEST_CASE("stores: PostgreSQL's 5-gram index is what a long filter's statement can use",
          "[sql]") {
  // Migration 7. The store asks `project_name_grams(name) @> '{the filter's pieces}'`; with
  // scans of the table and of the name index priced out, PostgreSQL must answer that from
  // the gram index, which it can only when the expression is the index's own.
  if (!market::testing::PostgresUrl()) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: the PostgreSQL index test is skipped");
    return;
  }
  TestDatabase db(Backend::kPostgres);
  auto stores = OpenOrFail(db);
  CHECK(db.QueryText("SELECT array_to_string(project_name_grams('svc.Payments-api2'), ',')") ==
        "Payme,aymen,ments,yment");
  CHECK(db.QueryText("SELECT cardinality(project_name_grams('a-b.1234-xyz'))") == "0");
  // No statistics on the pieces, or every list would be planned afresh (see migration 7).
  CHECK(db.QueryText("SELECT attstattarget FROM pg_attribute "
                     "WHERE attrelid = 'projects_name_grams'::regclass") == "0");
  CHECK_NOTHROW(db.Exec(
      "DO $$ DECLARE line text; plan text := ''; BEGIN SET LOCAL enable_seqscan = off; "
      "SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; "
      "FOR line IN EXECUTE 'EXPLAIN SELECT name FROM projects WHERE project_name_grams(name) "
      "@> CAST($1 AS text[]) AND strpos(name, $2) > 0' USING '{00042}'::text, 'ch-00042'::text "
      "LOOP plan := plan || line || ' / '; END LOOP; "
      "IF plan NOT LIKE '%projects_name_grams%' THEN RAISE EXCEPTION 'plan: %', plan; END IF; "
      "END $$"));
}

TEST_CASE("project store: a filter matching more names than one pass takes stays exact",
          "[sql][project]") {
  // A filtered page is read from one capped pass over the matches (10,000 names); past the
  // cap, or past the end, the store counts and reads the page separately. Both must agree.
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db);
  // 10,050 names cap-00000 ... cap-10049 and 5 others, written in bulk with SQL.
  const std::string columns =
      "INSERT INTO projects (name, creator, create_time, last_modify_time, "
      "last_modify_operator, cluster, define_type, pipeline) ";
  if (backend == Backend::kPostgres) {
    db.Exec(columns +
            "SELECT 'cap-' || lpad(i::text, 5, '0'), 'a', 0, 0, 'a', 'c', 'tool', '[]' "
            "FROM generate_series(0, 10049) AS i");
  } else {
    REQUIRE_NOTHROW(db.Exec(
        "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 10049) " +
        columns + "SELECT printf('cap-%05d', i), 'a', 0, 0, 'a', 'c', 'tool', '[]' FROM s"));
  }
  for (std::string name : {"other-1", "other-2", "other-3", "other-4", "other-5"}) {
    REQUIRE(stores.projects->Insert(MakeProject(name)));
  }
  auto list = [&](const market::ProjectListQuery& query) {
    return ListedNames(*stores.projects, query);
  };
  // Past the cap: the separate count and page.
  CHECK(list(Query(1, 2, "cap-")) == std::vector<std::string>{"cap-00000", "cap-00001",
                                                               "total=10050"});
  CHECK(list(Query(5025, 2, "cap-")) == std::vector<std::string>{"cap-10048", "cap-10049",
                                                                  "total=10050"});
  CHECK(list(Query(1, 2, "cap-", "cap-10000")) ==
        std::vector<std::string>{"cap-10001", "cap-10002", "total=10050"});
  CHECK(list(Query(5026, 2, "cap-")) == std::vector<std::string>{"total=10050"});
  // Under the cap: the one pass, a first page, a deep page, a cursor and past the end.
  CHECK(list(Query(1, 3, "cap-1")) ==
        std::vector<std::string>{"cap-10000", "cap-10001", "cap-10002", "total=50"});
  CHECK(list(Query(17, 3, "cap-1")) == std::vector<std::string>{"cap-10048", "cap-10049",
                                                                 "total=50"});
  CHECK(list(Query(1, 3, "cap-1", "cap-10047")) ==
        std::vector<std::string>{"cap-10048", "cap-10049", "total=50"});
  CHECK(list(Query(18, 3, "cap-1")) == std::vector<std::string>{"total=50"});
  CHECK(list(Query(1, 3, "cap-1", "cap-10049")) == std::vector<std::string>{"total=50"});
  CHECK(list(Query(2, 2, "other")) == std::vector<std::string>{"other-3", "other-4", "total=5"});
  CHECK(list(Query(1, 10, "nothing")) == std::vector<std::string>{"total=0"});
}

TEST_CASE("stores: PostgreSQL's trigram index updates itself on insert, no pending list",
          "[sql]") {
  // Migration 6: with GIN's fastupdate on, new names would queue in a list every filter
  // reads whole until a vacuum.
  if (!market::testing::PostgresUrl()) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: the PostgreSQL index test is skipped");
    return;
  }
  TestDatabase db(Backend::kPostgres);
  auto stores = OpenOrFail(db);
  CHECK_NOTHROW(db.Exec(
      "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'projects_name_trgm' "
      "AND 'fastupdate=off' = ANY(reloptions)) THEN RAISE EXCEPTION 'fastupdate is on'; "
      "END IF; END $$"));
  REQUIRE(stores.projects->Insert(MakeProject("payments-api")));
  auto listed = stores.projects->List(Query(1, 10, "ments-a"));
  REQUIRE(listed);
  CHECK(Names(*listed) == std::vector<std::string>{"payments-api"});
}

TEST_CASE("stores: a SQLite database of schema 4 gets its names indexed by migration 5",
          "[sql]") {
  // Back to schema 4 with the sqlite3 shell: no trigram index, and projects written without
  // one. Reopening must index the names already there, not only new ones.
  TestDatabase db(Backend::kSqlite);
  OpenOrFail(db);
  REQUIRE_NOTHROW(db.Exec(
      "DROP TRIGGER projects_names_insert; DROP TRIGGER projects_names_delete; "
      "DROP TRIGGER projects_names_update; DROP TABLE project_names; "
      "DELETE FROM schema_migrations WHERE version = 5; " +
      InsertRawProjects({"payments-api", "payments-web", "billing-core"})));
  auto stores = OpenOrFail(db);
  // "nts-": no run of 5, so the trigram index answers.
  auto listed = stores.projects->List(Query(1, 10, "nts-"));
  REQUIRE(listed);
  CHECK(listed->total_count == 2);
  REQUIRE(stores.projects->Remove("payments-web"));
  listed = stores.projects->List(Query(1, 10, "nts-"));
  REQUIRE(listed);
  REQUIRE(listed->projects.size() == 1);
  CHECK(listed->projects[0].name == "payments-api");
}

TEST_CASE("stores: a SQLite database of schema 7 gets its names' pieces by migration 8",
          "[sql]") {
  // Back to schema 7 with the sqlite3 shell: no pieces index, and projects written without
  // one. Reopening must index the names already there, and a removal must then find the
  // pieces the backfill wrote (a contentless FTS5 row is deleted by giving its tokens again).
  TestDatabase db(Backend::kSqlite);
  OpenOrFail(db);
  REQUIRE_NOTHROW(db.Exec(
      "DROP TRIGGER projects_pieces_insert; DROP TRIGGER projects_pieces_delete; "
      "DROP TRIGGER projects_pieces_update; DROP TABLE project_name_pieces; "
      "DELETE FROM schema_migrations WHERE version = 8; " +
      InsertRawProjects({"payments-api", "Payments-web", "billing-00042"})));
  auto stores = OpenOrFail(db);
  auto names = [&](const std::string& filter) {
    return ListedNames(*stores.projects, Query(1, 10, filter));
  };
  CHECK(names("ayments") == std::vector<std::string>{"Payments-web", "payments-api", "total=2"});
  CHECK(names("payments") == std::vector<std::string>{"payments-api", "total=1"});
  CHECK(names("g-00042") == std::vector<std::string>{"billing-00042", "total=1"});
  REQUIRE(stores.projects->Remove("Payments-web"));
  REQUIRE(stores.projects->Save(MakeProject("billing-00042"), market::SaveMode::kUpdate));
  CHECK(names("ayments") == std::vector<std::string>{"payments-api", "total=1"});
  CHECK(names("00042") == std::vector<std::string>{"billing-00042", "total=1"});
}

TEST_CASE("stores: migrations are idempotent and data survives reopening", "[sql]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  {
    auto stores = OpenOrFail(db);
    REQUIRE(stores.projects->Insert(MakeProject("kept")).has_value());
  }
  auto reopened = OpenOrFail(db);
  auto kept = reopened.projects->Get("kept");
  REQUIRE(kept.has_value());
  CHECK(*kept == MakeProject("kept"));
  // and two opens at once (two processes starting together) both succeed
  std::vector<market::Result<market::Stores>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = db.Open(2); });
  for (auto& t : threads) t.join();
  for (auto& r : results) {
    REQUIRE(r.has_value());
    CHECK(r->projects->Get("kept").has_value());
  }
}

TEST_CASE("stores: bad URLs are kInvalid naming the database option", "[sql]") {
  for (std::string url :
       {"mysql://x", "sqlite:", "sqlite::memory:", "nonsense", "postgresql://u:secret@[::1/db"}) {
    CAPTURE(url);
    market::StoreOptions options;
    options.url = url;
    auto stores = market::OpenStores(options);
    REQUIRE_FALSE(stores.has_value());
    CHECK(stores.error().code == Errc::kInvalid);
    CHECK(stores.error().message.find("database") != std::string::npos);
    CHECK(stores.error().message.find("secret") == std::string::npos);
  }
  market::StoreOptions zero;
  zero.url = "sqlite:/tmp/never-created.db";
  zero.pool_size = 0;
  CHECK(market::OpenStores(zero).error().code == Errc::kInvalid);
}

TEST_CASE("stores: an unreachable PostgreSQL is kUnavailable without the password", "[sql]") {
  market::StoreOptions options;
  // Port 1 on loopback: nothing listens there.
  options.url = "postgresql://market:hunter2@127.0.0.1:1/market?connect_timeout=2";
  options.pool_size = 1;
  auto stores = market::OpenStores(options);
  REQUIRE_FALSE(stores.has_value());
  CHECK(stores.error().code == Errc::kUnavailable);
  CHECK(stores.error().message.find("hunter2") == std::string::npos);
}

TEST_CASE("project store: 32 concurrent inserts of one name: one wins", "[sql][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db, 8);
  std::atomic<int> ok{0}, exists{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      Project p = MakeProject("contested");
      p.creator = "user" + std::to_string(i);
      auto r = stores.projects->Insert(p);
      if (r) {
        ++ok;
      } else if (r.error().code == Errc::kAlreadyExists) {
        ++exists;
      } else {
        ++other;
        UNSCOPED_INFO("unexpected: " << r.error().message);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 1);
  CHECK(exists == 31);
  CHECK(other == 0);
}

TEST_CASE("project store: 32 concurrent clones into one name: one wins", "[sql][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db, 8);
  REQUIRE(stores.projects->Insert(MakeProject("source")).has_value());
  std::atomic<int> ok{0}, exists{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      Project copy = MakeProject("target");
      copy.creator = "user" + std::to_string(i);
      auto r = stores.projects->Clone("source", copy);
      if (r) {
        ++ok;
      } else if (r.error().code == Errc::kAlreadyExists) {
        ++exists;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 1);
  CHECK(exists == 31);
  CHECK(other == 0);
  auto page = stores.projects->List(Query(1, 10));
  REQUIRE(page.has_value());
  CHECK(page->total_count == 2);
}

TEST_CASE("project store: concurrent updates of one name never fail", "[sql][concurrency]") {
  Backend backend = PickBackend();
  CAPTURE(market::testing::ToString(backend));
  TestDatabase db(backend);
  auto stores = OpenOrFail(db, 8);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      Project p = MakeProject("upserted");
      p.last_modify_operator = "op" + std::to_string(i);
      if (!stores.projects->Save(p, market::SaveMode::kUpdate)) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(stores.projects->List(Query(1, 10))->total_count == 1);
}
