// SIGTERM while clients save projects and a build runs (tests/server/sigterm_test.cpp covers a
// single request in flight on an idle server): the process exits 0, every answer it gave is a
// success, every write it acknowledged is there after a restart, including one whose body
// arrived after the signal, and no build is left running, neither as a process nor as a state.

#include <signal.h>

#include <catch2/catch.hpp>
#include <set>

#include "fault/fault_support.hpp"
#include "support/process_watch.hpp"

namespace market::fault {
namespace {

using json = nlohmann::json;

std::string SaveBody(const std::string& project) {
  json pipeline = json::array(
      {{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", "busybox:latest"}},
       {{"$$plugin", "run"}, {"value", json::array({"echo " + project})}}});
  return json{
      {"project", project}, {"addOrUpdate", "add"}, {"operator", "load"}, {"$$plugin", pipeline}}
      .dump();
}

// Odd iterations list, even ones save a new project named after thread and iteration.
std::pair<std::string, Reply> SaveOrList(int thread, int iteration, HttpClient& conn) {
  if (iteration % 2 == 1) return {"list", conn.Get("/api/project/list?page=1&page_size=5")};
  const std::string project = "sig" + std::to_string(thread) + "x" + std::to_string(iteration);
  return {"save " + project,
          conn.Send("POST", "/api/project/save", SaveBody(project), "application/json")};
}

bool BuildProcessRunning(const std::string& workspace) {
  for (const auto& [pid, cmdline] : testing::CommandLines()) {
    if (cmdline.find(workspace) != std::string::npos &&
        cmdline.find("market-server") == std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("SIGTERM under load: answers complete, acknowledged writes survive, no build left",
          "[fault][sigterm]") {
  market::testing::TempDir dir;
  const std::string database = "sqlite:" + (dir.path() / "market.db").string();
  const std::string workspace = (dir.path() / "ws").string();
  std::optional<std::string> registry = market::testing::RegistryHost();
  std::vector<std::string> args = {"--listen",    "127.0.0.1:0", "--database",      database,
                                   "--workspace", workspace,     "--build-workers", "1",
                                   "--log-level", "info"};
  if (registry) {
    args.insert(args.end(), {"--registry", "http://" + *registry, "--registry-kind", "distribution",
                             "--registry-insecure"});
  } else {
    WARN("MARKET_TEST_REGISTRY is not set: SIGTERM under load without a running build");
  }
  auto server = std::make_unique<ServerProcess>(args, dir.path() / "server-1.log");
  HttpClient client(server->port(), 30s);

  std::string build_id;
  if (registry) {
    json pipeline = json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                                  {"handleInput", *registry + "/base/busybox:latest"}},
                                 {{"$$plugin", "run"}, {"value", json::array({"sleep 300"})}}});
    REQUIRE(client
                .PostJson("/api/project/save", {{"project", "longbuild"},
                                                {"addOrUpdate", "add"},
                                                {"operator", "fault"},
                                                {"$$plugin", pipeline}})
                .TryCode() == 10000);
    Reply queued = client.PostJson("/api/project/build",
                                   {{"projectName", "longbuild"}, {"operator", "fault"}});
    REQUIRE(queued.TryCode() == 10000);
    build_id = queued.TryJson()["content"]["idStr"];
    // buildah itself runs (its command line names the build's folder in the workspace).
    REQUIRE(WaitFor([&] { return BuildProcessRunning(workspace); }, 60s));
  }

  Load load(server->port(), 3, SaveOrList, 30s);
  std::this_thread::sleep_for(1500ms);

  // A save in flight: headers and half the body before the signal, the rest after it.
  const std::string inflight_body = SaveBody("inflight");
  market::testing::RawConnection raw(server->port());
  REQUIRE(raw.connected());
  const std::string head =
      "POST /api/project/save HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(inflight_body.size()) + "\r\n\r\n";
  REQUIRE(raw.Write(head + inflight_body.substr(0, 20)));
  std::this_thread::sleep_for(300ms);

  const auto signalled = Clock::now();
  server->Signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  REQUIRE(raw.Write(inflight_body.substr(20)));
  const std::string response = raw.ReadAll();
  raw.Close();

  auto status = server->Wait(90s);
  const auto exited = Clock::now();
  load.Stop();
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  INFO("in-flight answer: " << response);
  CHECK(response.starts_with("HTTP/1.1 200"));
  CHECK(response.find("\"code\":10000") != std::string::npos);
  // Nothing of the build outlives the server.
  CHECK_FALSE(BuildProcessRunning(workspace));
  const std::string first_log = server->Log();
  server.reset();

  std::set<std::string> acknowledged = {"inflight"};
  int answered_after_signal = 0;
  for (const Load::Sample& s : load.Samples()) {
    if (!s.reply.answered()) continue;  // refused or closed: nothing was acknowledged
    INFO(s.what << ": HTTP " << s.reply.status << " " << s.reply.body.substr(0, 300));
    // Whatever the server still answered, it answered properly: no 5xx while stopping.
    CHECK(s.reply.status == 200);
    CHECK(s.reply.TryCode() == 10000);
    if (s.start >= signalled) ++answered_after_signal;
    if (s.reply.TryCode() == 10000 && s.what.starts_with("save ")) {
      acknowledged.insert(s.what.substr(5));
    }
  }
  CHECK(acknowledged.size() >= 4);
  INFO("answers to requests sent after SIGTERM: "
       << answered_after_signal << "; exit took "
       << std::chrono::duration_cast<std::chrono::milliseconds>(exited - signalled).count()
       << " ms");

  // Restart on the same database: every acknowledged project is there.
  server = std::make_unique<ServerProcess>(args, dir.path() / "server-2.log");
  HttpClient after(server->port(), 30s);
  std::set<std::string> stored;
  for (int page = 1;; ++page) {
    Reply list = after.Get("/api/project/list?page_size=100&page=" + std::to_string(page));
    REQUIRE(list.TryCode() == 10000);
    json content = list.TryJson()["content"];
    for (const json& project : content) stored.insert(project["name"].get<std::string>());
    if (content.size() < 100) break;
  }
  for (const std::string& name : acknowledged) {
    INFO("acknowledged save of " << name);
    CHECK(stored.count(name) == 1);
  }

  if (registry) {
    Reply history = after.Get("/api/project/buildHistory?projectName=longbuild");
    REQUIRE(history.TryCode() == 10000);
    json build = history.TryJson()["content"]["latest"];
    INFO("build after restart: " << build.dump() << "\nfirst server's log:\n" << first_log);
    CHECK(build["idStr"] == build_id);
    CHECK((build["state"] == "failed" || build["state"] == "cancelled"));
    CHECK_FALSE(build.value("reason", "").empty());
    CHECK_FALSE(BuildProcessRunning(workspace));
  }
  server->Signal(SIGTERM);
  auto second = server->Wait(60s);
  REQUIRE(second.has_value());
  CHECK(WEXITSTATUS(*second) == 0);
}

}  // namespace market::fault
