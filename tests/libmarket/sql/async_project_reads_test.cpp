// AsyncProjectReads on a real PostgreSQL (MARKET_TEST_POSTGRES_URL): the same answers as the
// blocking store, each answer to its own caller when many share a connection's pipeline, an
// error confined to its own query, and recovery from a connection the server ended. On SQLite:
// the store's answers, from the blocking executor.

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "market/async_project_reads.hpp"
#include "market/project_store.hpp"
#include "market/store.hpp"
#include "sql/pg_async_project_reads.hpp"
#include "support/test_stores.hpp"

using market::Errc;
using market::Project;
using market::ProjectListQuery;
using market::ProjectPage;
using market::Result;
using market::testing::Backend;
using market::testing::TestDatabase;

namespace {

using namespace std::chrono_literals;

Project MakeProject(const std::string& name, int n) {
  Project p;
  p.name = name;
  p.creator = "alice";
  p.create_time = market::TimePoint{std::chrono::milliseconds{1'790'000'000'000 + n}};
  p.last_modify_time = p.create_time + std::chrono::milliseconds{n};
  p.last_modify_operator = "bob";
  p.cluster = "team-" + std::to_string(n % 3);
  p.define_type = n % 2 == 0 ? market::DockerfileType::kTool : market::DockerfileType::kEdit;
  p.pipeline = {{"run", {{"value", std::vector<std::string>{"echo " + std::to_string(n)}}}}};
  return p;
}

// Runs the blocking reads on the test's io_context, where the server runs them on its pool.
class LoopExecutor final : public market::BlockingExecutor {
 public:
  explicit LoopExecutor(boost::asio::io_context& io) : io_(io) {}
  void Post(std::move_only_function<void()> job) override {
    boost::asio::post(io_, [job = std::move(job)]() mutable { job(); });
  }

 private:
  boost::asio::io_context& io_;
};

// A PostgreSQL test database with `count` projects p00..p(count-1), its blocking stores, and
// asynchronous reads on an io_context the test runs.
struct Fixture {
  explicit Fixture(int count, int connections = 1, int call_timeout_ms = 30000,
                   Backend backend = Backend::kPostgres)
      : db(backend) {
    options.url = db.url();
    options.pool_size = 2;
    options.call_timeout_ms = call_timeout_ms;
    auto opened = market::OpenStores(options);
    REQUIRE(opened);
    stores = std::move(*opened);
    for (int i = 0; i < count; ++i) {
      REQUIRE(stores.projects->Insert(MakeProject(Name(i), i)));
    }
    auto made =
        market::OpenAsyncProjectReads(options, *stores.projects, blocking, io, connections);
    REQUIRE(made);
    REQUIRE(*made != nullptr);
    reads = std::move(*made);
  }

  static std::string Name(int i) { return (i < 10 ? "p0" : "p") + std::to_string(i); }

  // Runs the io_context until it has nothing left to do (every answer given).
  void Drain() {
    io.restart();
    io.run_for(20s);
  }

  Result<Project> Get(const std::string& name) {
    std::optional<Result<Project>> got;
    reads->Get(name, [&](Result<Project> answer) { got = std::move(answer); });
    Drain();
    REQUIRE(got.has_value());
    return std::move(*got);
  }

  Result<ProjectPage> List(const ProjectListQuery& query) {
    std::optional<Result<ProjectPage>> got;
    reads->List(query, [&](Result<ProjectPage> answer) { got = std::move(answer); });
    Drain();
    REQUIRE(got.has_value());
    return std::move(*got);
  }

  TestDatabase db;
  market::StoreOptions options;
  market::Stores stores;
  boost::asio::io_context io;
  LoopExecutor blocking{io};
  market::AsyncProjectReadsPtr reads;  // after io: destroyed first
};

bool HavePostgres() {
  if (market::testing::PostgresUrl()) return true;
  WARN("MARKET_TEST_POSTGRES_URL is not set: skipping");
  return false;
}

// A page as its names, then "total=N".
std::vector<std::string> Listed(const Result<ProjectPage>& page) {
  REQUIRE(page);
  std::vector<std::string> out;
  for (const Project& p : page->projects) out.push_back(p.name);
  out.push_back("total=" + std::to_string(page->total_count));
  return out;
}

}  // namespace

TEST_CASE("async reads: SQLite's are the store's, on the blocking executor", "[sql]") {
  Fixture f(12, 2, 30000, Backend::kSqlite);
  REQUIRE(f.reads != nullptr);
  Result<Project> async = f.Get(Fixture::Name(3));
  REQUIRE(async);
  CHECK(*async == MakeProject(Fixture::Name(3), 3));
  Result<Project> missing = f.Get("nope");
  REQUIRE(!missing);
  CHECK(missing.error().code == Errc::kNotFound);
  ProjectListQuery query;
  query.page = 2;
  query.page_size = 5;
  query.name_filter = "p";
  auto blocking = f.stores.projects->List(query);
  REQUIRE(blocking);
  CHECK(Listed(f.List(query)) == Listed(blocking));
  CHECK(Listed(f.List(query)) ==
        std::vector<std::string>{"p05", "p06", "p07", "p08", "p09", "total=12"});

  market::StoreOptions options = f.options;
  boost::asio::io_context io;
  LoopExecutor executor(io);
  options.url = "postgresql://nobody@127.0.0.1:1/none";
  auto none = market::OpenAsyncProjectReads(options, *f.stores.projects, executor, io, 0);
  REQUIRE(!none);
  CHECK(none.error().code == Errc::kInvalid);
}

TEST_CASE("async reads: a project as the blocking store reads it, missing is kNotFound",
          "[sql][postgres]") {
  if (!HavePostgres()) return;
  Fixture f(3);
  for (int i = 0; i < 3; ++i) {
    Result<Project> async = f.Get(Fixture::Name(i));
    REQUIRE(async);
    Result<Project> blocking = f.stores.projects->Get(Fixture::Name(i));
    REQUIRE(blocking);
    CHECK(*async == *blocking);
    CHECK(*async == MakeProject(Fixture::Name(i), i));
  }
  Result<Project> missing = f.Get("nope");
  REQUIRE(!missing);
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(missing.error().message == "project not found: nope");
}

TEST_CASE("async reads: many reads in one pipeline each get their own answer",
          "[sql][postgres]") {
  if (!HavePostgres()) return;
  Fixture f(40, 2);
  // All submitted before the loop runs: they share the two connections' batches.
  std::vector<std::optional<Result<Project>>> got(400);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const int n = static_cast<int>(i % 41);  // 40: a name that does not exist
    f.reads->Get(n == 40 ? "missing" : Fixture::Name(n),
                 [&got, i](Result<Project> answer) { got[i] = std::move(answer); });
  }
  f.Drain();
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("read " << i);
    const int n = static_cast<int>(i % 41);
    REQUIRE(got[i].has_value());
    if (n == 40) {
      REQUIRE(!*got[i]);
      CHECK(got[i]->error().code == Errc::kNotFound);
    } else {
      REQUIRE(*got[i]);
      CHECK(**got[i] == MakeProject(Fixture::Name(n), n));
    }
  }
}

TEST_CASE("async reads: a failing read fails alone, the rest of its batch is answered",
          "[sql][postgres]") {
  if (!HavePostgres()) return;
  Fixture f(3);
  // Not UTF-8: the server rejects the parameter, which aborts the rest of the batch; those
  // reads go out again and are answered.
  const std::string invalid = "p\xff";
  std::vector<std::optional<Result<Project>>> got(5);
  const std::vector<std::string> names = {"p00", invalid, "p01", "p02", invalid};
  for (std::size_t i = 0; i < names.size(); ++i) {
    f.reads->Get(names[i], [&got, i](Result<Project> answer) { got[i] = std::move(answer); });
  }
  f.Drain();
  for (std::size_t i = 0; i < names.size(); ++i) {
    INFO("read " << i);
    REQUIRE(got[i].has_value());
    if (names[i] == invalid) {
      REQUIRE(!*got[i]);
      CHECK(got[i]->error().code == Errc::kInternal);
      CHECK_THAT(got[i]->error().message, Catch::Contains("project by name"));
    } else {
      REQUIRE(*got[i]);
      CHECK((*got[i])->name == names[i]);
    }
  }
  CHECK(f.Get("p02"));  // the connection serves on
}

TEST_CASE("async reads: list pages and totals as the blocking store lists them",
          "[sql][postgres]") {
  if (!HavePostgres()) return;
  Fixture f(25);
  std::vector<ProjectListQuery> queries(6);
  queries[0].page_size = 10;
  queries[1].page = 3;
  queries[1].page_size = 10;  // the last 5
  queries[2].page = 4;
  queries[2].page_size = 10;  // past the end: empty, with the total
  queries[3].after = "p09";
  queries[3].page_size = 4;
  queries[4].after = "p24";  // nothing after the last
  queries[5].page = 7;       // ignored with a cursor
  queries[5].after = "p20";
  queries[5].page_size = 100;
  for (ProjectListQuery& query : queries) {
    query.with_pipeline = &query == &queries[0];
    Result<ProjectPage> async = f.List(query);
    auto blocking = f.stores.projects->List(query);
    REQUIRE(blocking);
    CHECK(Listed(async) == Listed(blocking));
    for (std::size_t i = 0; i < async->projects.size(); ++i) {
      CHECK(async->projects[i] == blocking->projects[i]);
    }
  }
  CHECK(Listed(f.List(queries[1])) ==
        std::vector<std::string>{"p20", "p21", "p22", "p23", "p24", "total=25"});
  CHECK(Listed(f.List(queries[3])) ==
        std::vector<std::string>{"p10", "p11", "p12", "p13", "total=25"});

  // A filter, or a page that skips more than kPipelineMaxOffset names, may be slow: the
  // pipeline does not take it, since a connection answers in order and everything behind would
  // wait. It is answered all the same, from the blocking executor.
  auto takes = [](const ProjectListQuery& query) {
    auto plan = market::sql::PlanList(query, true);
    REQUIRE(plan);
    return market::sql::PipelineTakes(*plan);
  };
  ProjectListQuery filtered;
  filtered.name_filter = "p1";
  CHECK(!takes(filtered));
  CHECK(Listed(f.List(filtered)) == Listed(f.stores.projects->List(filtered)));
  CHECK(Listed(f.List(filtered)) ==
        std::vector<std::string>{"p10", "p11", "p12", "p13", "p14", "p15", "p16", "p17", "p18",
                                 "p19", "total=10"});
  ProjectListQuery deep;
  deep.page_size = 10;
  deep.page = static_cast<int>(market::sql::kPipelineMaxOffset / 10) + 2;
  CHECK(!takes(deep));
  CHECK(Listed(f.List(deep)) == std::vector<std::string>{"total=25"});
  deep.page -= 1;  // skips exactly kPipelineMaxOffset
  CHECK(takes(deep));
  CHECK(Listed(f.List(deep)) == std::vector<std::string>{"total=25"});
  deep.after = "p00";  // a cursor: the page number is not used
  deep.page += 100;
  CHECK(takes(deep));
  CHECK(!takes(filtered));
  ProjectListQuery zero;
  zero.page_size = 0;
  CHECK(f.List(zero).error().code == Errc::kInvalid);
}

TEST_CASE("async reads: a connection the server ended is replaced without a failed read",
          "[sql][postgres]") {
  if (!HavePostgres()) return;
  Fixture f(2);
  REQUIRE(f.Get("p00"));
  // Ends every session on the test database, the async connection among them, while it idles.
  f.db.AdminExec("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '" +
                 f.db.database_name() + "' AND pid <> pg_backend_pid()");
  Result<Project> again = f.Get("p01");
  INFO((again ? std::string("ok") : again.error().message));
  REQUIRE(again);
  CHECK(again->name == "p01");
  CHECK(f.Get("p00"));
}

TEST_CASE("async reads: an unreachable server is kUnavailable, without the password",
          "[sql][postgres]") {
  if (!HavePostgres()) return;
  market::StoreOptions options;
  options.url = "postgresql://someone:sekrit-pw@127.0.0.1:1/none";
  boost::asio::io_context io;
  LoopExecutor executor(io);
  TestDatabase sqlite(Backend::kSqlite);  // the costly reads' store: never asked here
  market::StoreOptions sqlite_options;
  sqlite_options.url = sqlite.url();
  auto stores = market::OpenStores(sqlite_options);
  REQUIRE(stores);
  auto reads = market::OpenAsyncProjectReads(options, *stores->projects, executor, io, 1);
  REQUIRE(reads);
  REQUIRE(*reads != nullptr);
  std::optional<Result<Project>> got;
  (*reads)->Get("p00", [&](Result<Project> answer) { got = std::move(answer); });
  io.run_for(20s);
  REQUIRE(got.has_value());
  REQUIRE(!*got);
  CHECK(got->error().code == Errc::kUnavailable);
  CHECK(got->error().message.find("sekrit-pw") == std::string::npos);
}

TEST_CASE("async reads: a read on a stopped backend is cut after the call timeout",
          "[sql][postgres]") {
  if (!HavePostgres()) return;
  Fixture f(1, 1, 1000);
  REQUIRE(f.Get("p00"));
  // The async connection is the one with the newest backend on the test database.
  const std::string query =
      "psql '" + *market::testing::PostgresUrl() +
      "' -Atc \"SELECT pid FROM pg_stat_activity WHERE datname = '" + f.db.database_name() +
      "' AND backend_type = 'client backend' ORDER BY backend_start DESC LIMIT 1\"";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(query.c_str(), "r"), pclose);
  REQUIRE(pipe);
  char buffer[64] = {};
  REQUIRE(fgets(buffer, sizeof buffer, pipe.get()) != nullptr);
  const pid_t backend = static_cast<pid_t>(std::stol(buffer));
  REQUIRE(backend > 0);

  ::kill(backend, SIGSTOP);
  const auto start = std::chrono::steady_clock::now();
  Result<Project> cut = f.Get("p00");
  const auto took = std::chrono::steady_clock::now() - start;
  ::kill(backend, SIGCONT);
  REQUIRE(!cut);
  CHECK(cut.error().code == Errc::kUnavailable);
  CHECK_THAT(cut.error().message, Catch::Contains("did not answer within 1000 ms") &&
                                      Catch::Contains("project by name"));
  CHECK(took >= 1000ms);
  CHECK(took < 10s);
  Result<Project> after = f.Get("p00");  // a new connection
  INFO((after ? std::string("ok") : after.error().message));
  CHECK(after);
}
