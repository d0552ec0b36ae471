// PostgreSQL frozen (every process stopped with SIGSTOP) while clients read and write: the
// kernel keeps acknowledging on the open connections, so no error ever arrives from the
// database. The server's database-timeout watchdog must cut those connections: every request
// ends with 503 / 10017 within a bound, /healthz keeps answering, and once the database runs
// again the same clients succeed and nothing acknowledged before the freeze is lost.

#include <catch2/catch.hpp>

#include "fault/fault_support.hpp"

namespace market::fault {
namespace {

using json = nlohmann::json;

json SaveBody(const std::string& project, const std::string& command) {
  json pipeline =
      json::array({{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", "busybox"}},
                   {{"$$plugin", "run"}, {"value", json::array({command})}}});
  return {{"project", project},
          {"addOrUpdate", "update"},
          {"operator", "frozen"},
          {"$$plugin", pipeline}};
}

}  // namespace

TEST_CASE("PostgreSQL frozen: calls cut after database-timeout and recovery afterwards",
          "[fault][postgres]") {
  if (!PgCluster::Available()) {
    WARN("PostgreSQL 15 binaries not installed: skipping");
    return;
  }
  market::testing::TempDir dir;
  PgCluster pg;
  ServerProcess server({"--listen", "127.0.0.1:0", "--database", pg.Url(), "--workspace",
                        (dir.path() / "ws").string(), "--log-level", "info",
                        "--database-timeout", "2"},
                       dir.path() / "server.log");

  HttpClient setup(server.port(), 15s);
  for (int i = 0; i < 3; ++i) {
    const std::string project = "frozen" + std::to_string(i);
    Reply created =
        setup.PostJson("/api/project/new", {{"projectName", project}, {"operator", "frozen"}});
    REQUIRE(created.TryCode() == 10000);
    REQUIRE(setup.PostJson("/api/project/save", SaveBody(project, "echo before")).TryCode() ==
            10000);
  }

  pg.Freeze();
  // Six clients at once (more than the pool's sessions), each reading or writing its project.
  // The client timeout (25 s) is far above what the server may take: database-timeout (2 s),
  // then a reconnect that gives up after connect_timeout (5 s), or the pool's wait (10 s).
  std::vector<Reply> replies(6);
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&, i] {
      HttpClient conn(server.port(), 25s);
      const std::string project = "frozen" + std::to_string(i % 3);
      replies[i] = i % 2 == 0 ? conn.Get("/api/project/info?projectName=" + project)
                              : conn.PostJson("/api/project/save",
                                              SaveBody(project, "echo during"));
    });
  }
  // Liveness does not depend on the database: it answers while the calls hang.
  std::this_thread::sleep_for(500ms);
  HttpClient probe(server.port(), 5s);
  Reply health = probe.Get("/healthz");
  for (auto& client : clients) client.join();

  CHECK(health.status == 200);
  int cut_messages = 0;
  for (const Reply& reply : replies) {
    INFO("HTTP " << reply.status << " in " << reply.elapsed.count() << " ms: "
                 << (reply.answered() ? reply.body : "error: " + reply.error));
    REQUIRE(reply.answered());
    CHECK(reply.status == 503);
    CHECK(reply.TryCode() == 10017);
    CHECK(reply.elapsed < 20s);
    const std::string message = reply.TryJson().value("errMsg", "");
    CHECK_THAT(message, Catch::Contains("database"));
    if (message.find("did not answer within 2000 ms") != std::string::npos) ++cut_messages;
  }
  // At least the calls that held a session when the database stopped were cut by the watchdog
  // (the others waited for a session, or failed to reconnect to the stopped server).
  CHECK(cut_messages >= 1);
  CHECK_THAT(server.Log(), Catch::Contains("connection cut"));

  pg.Thaw();
  // The pool replaces the cut sessions: the same kind of requests succeed again.
  Reply info;
  REQUIRE(WaitFor(
      [&] {
        info = probe.Get("/api/project/info?projectName=frozen1");
        return info.TryCode() == 10000;
      },
      20s, 250ms));
  // What was acknowledged before the freeze is there. Each save during it was cut while its
  // first statement (BEGIN) waited in the stopped server, which on waking reads BEGIN and then
  // end-of-file and rolls back: none of them took effect.
  CHECK(info.body.find("echo before") != std::string::npos);
  CHECK(info.body.find("echo during") == std::string::npos);
  CHECK(probe.PostJson("/api/project/save", SaveBody("frozen1", "echo after")).TryCode() == 10000);
  CHECK(probe.Get("/api/project/info?projectName=frozen1").body.find("echo after") !=
        std::string::npos);

  ExpectCleanStop(server);
}

}  // namespace market::fault
