// PostgreSQL stopped and started again while clients keep saving, reading and listing: during
// the outage every request gets a fast, clear 503 / 10017; afterwards everything succeeds again
// on the same keep-alive connections, and the server holds no more database sessions than its
// pool.

#include <catch2/catch.hpp>

#include "fault/fault_support.hpp"

namespace market::fault {
namespace {

using json = nlohmann::json;

// save, info and list of the thread's own project, in turn.
std::pair<std::string, Reply> ProjectOp(int thread, int iteration, HttpClient& conn) {
  const std::string project = "pgload" + std::to_string(thread);
  switch (iteration % 3) {
    case 0: {
      json pipeline = json::array(
          {{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", "busybox:latest"}},
           {{"$$plugin", "run"}, {"value", json::array({"echo " + std::to_string(iteration)})}}});
      return {"save", conn.PostJson("/api/project/save", {{"project", project},
                                                          {"addOrUpdate", "update"},
                                                          {"operator", "load"},
                                                          {"$$plugin", pipeline}})};
    }
    case 1:
      return {"info", conn.Get("/api/project/info?projectName=" + project)};
    default:
      return {"list", conn.Get("/api/project/list?page=1&page_size=10&projectName=pgload")};
  }
}

std::string Describe(const Load::Sample& s, Clock::time_point origin) {
  return s.what + " at +" +
         std::to_string(
             std::chrono::duration_cast<std::chrono::milliseconds>(s.start - origin).count()) +
         " ms: HTTP " + std::to_string(s.reply.status) + " in " +
         std::to_string(s.reply.elapsed.count()) + " ms " +
         (s.reply.answered() ? s.reply.body.substr(0, 300) : "error: " + s.reply.error);
}

}  // namespace

TEST_CASE("PostgreSQL restarted under load: fast 503/10017 during the outage, then recovery",
          "[fault][postgres]") {
  if (!PgCluster::Available()) {
    WARN("PostgreSQL 15 binaries not installed: skipping");
    return;
  }
  market::testing::TempDir dir;
  PgCluster pg;
  ServerProcess server({"--listen", "127.0.0.1:0", "--database", pg.Url(), "--workspace",
                        (dir.path() / "ws").string(), "--log-level", "info"},
                       dir.path() / "server.log");

  const auto origin = Clock::now();
  Load load(server.port(), 3, ProjectOp, 15s);
  std::this_thread::sleep_for(1500ms);

  const auto down_begin = Clock::now();
  pg.Stop("fast");
  const auto down = Clock::now();
  std::this_thread::sleep_for(1000ms);
  // While the database is down: liveness stays 200, readiness says what is wrong.
  HttpClient probe(server.port(), 15s);
  Reply health = probe.Get("/healthz");
  Reply ready = probe.Get("/readyz");
  std::this_thread::sleep_for(2000ms);

  const auto up_begin = Clock::now();
  pg.Start();
  const auto up = Clock::now();
  std::this_thread::sleep_for(2500ms);
  load.Stop();
  Reply ready_after = probe.Get("/readyz");

  CHECK(health.status == 200);
  CHECK(ready.status == 503);
  CHECK_THAT(ready.body, Catch::Contains("database"));
  CHECK(ready_after.status == 200);

  std::vector<Load::Sample> samples = load.Samples();
  int before = 0, during = 0, after = 0;
  for (const Load::Sample& s : samples) {
    INFO(Describe(s, origin));
    // Never a dropped connection or a timeout: the server answers whatever the database does.
    REQUIRE(s.reply.answered());
    // Only two outcomes are right: done, or "the database cannot be reached right now".
    bool ok = s.reply.status == 200 && s.reply.TryCode() == 10000;
    bool unavailable = s.reply.status == 503 && s.reply.TryCode() == 10017;
    CHECK((ok || unavailable));
    if (s.start + s.reply.elapsed < down_begin) {
      ++before;
      CHECK(ok);
    } else if (s.start >= down && s.start + s.reply.elapsed < up_begin) {
      ++during;
      CHECK(unavailable);
      // Fast: a refused connection is known at once; this bound is far below the pool's
      // 10 s wait and the client's 15 s timeout, which a hanging server would hit.
      CHECK(s.reply.elapsed < 3000ms);
      if (unavailable) {
        CHECK_THAT(s.reply.TryJson()["errMsg"].get<std::string>(), Catch::Contains("database"));
      }
    } else if (s.start >= up) {
      ++after;
      // Every session was lost with the old server: the pool reconnects before using one.
      CHECK(ok);
    }
  }
  CHECK(before >= 3);
  CHECK(during >= 3);
  CHECK(after >= 3);

  // No stuck connections: the load's keep-alive connections survived the outage, and the
  // server holds at most its pool (blocking threads + build workers = 10) of sessions.
  Reply list = probe.Get("/api/project/list?page=1&page_size=10&projectName=pgload");
  CHECK(list.TryCode() == 10000);
  CHECK(list.TryJson()["total_count"] == 3);
  int sessions = std::stoi(
      pg.Query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
               "AND pid <> pg_backend_pid()"));
  CHECK(sessions <= 10);
  CHECK(sessions >= 1);

  ExpectCleanStop(server);
}

}  // namespace market::fault
