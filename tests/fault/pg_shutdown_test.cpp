// PostgreSQL shut down (pg_ctl stop -m fast, then -m immediate) while clients call every read
// and write endpoint: each answer is the truth or "the database is unavailable" (10017 / 503).
// A project that exists is never reported missing, no answer is a 500, no message names the
// database's address, name or user, and once PostgreSQL is back the server answers again.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <sstream>

#include "fault/fault_support.hpp"

namespace market::fault {
namespace {

using json = nlohmann::json;

constexpr int kThreads = 6;
constexpr int kKeptProjects = 4;

std::string Kept(int i) { return "keep" + std::to_string(i % kKeptProjects); }

json SaveBody(const std::string& project, int iteration) {
  json pipeline = json::array(
      {{{"$$plugin", "base_image_choose_from_harbor"}, {"handleInput", "busybox:latest"}},
       {{"$$plugin", "run"}, {"value", json::array({"echo " + std::to_string(iteration)})}}});
  return {{"project", project}, {"addOrUpdate", "update"}, {"operator", "load"},
          {"$$plugin", pipeline}};
}

// One operation of the load and the codes that are true answers to it while the database may
// be down: its success code, or 10017.
struct Op {
  std::string what;
  Reply reply;
  int success = 10000;
};

// Each client thread cycles through every endpoint that reads or writes the database. The
// projects keep0..keep3 and build `build_id` exist throughout; the projects a thread creates
// are its own (`mine`: the one it created last, deleted on its next turn).
class Endpoints {
 public:
  Endpoints(std::string tag, long long build_id)
      : tag_(std::move(tag)), build_id_(build_id), mine_(kThreads) {}

  Op Call(int thread, int iteration, HttpClient& conn) {
    const std::string kept = Kept(thread + iteration);
    const std::string own = tag_ + "-t" + std::to_string(thread) + "-" + std::to_string(iteration);
    switch (iteration % 12) {
      case 0:
        return {"info " + kept, conn.Get("/api/project/info?projectName=" + kept)};
      case 1:
        return {"list first page", conn.Get("/api/project/list?page=1&page_size=10")};
      case 2:
        return {"list filtered", conn.Get("/api/project/list?page=1&page_size=10&projectName=keep")};
      case 3:
        return {"list after a cursor", conn.Get("/api/project/list?page_size=10&after=keep0")};
      case 4:
        return {"buildHistory keep0",
                conn.Get("/api/project/buildHistory?projectName=keep0&page=1&page_size=10")};
      case 5:
        return {"buildLog " + std::to_string(build_id_),
                conn.Get("/api/project/buildLog?id=" + std::to_string(build_id_) + "&offset=0")};
      case 6:
        return {"dockerfile " + kept, conn.Get("/api/project/dockerfile?projectName=" + kept)};
      case 7:
        return {"save " + kept, conn.PostJson("/api/project/save", SaveBody(kept, iteration))};
      case 8: {
        Op op{"new " + own,
              conn.PostJson("/api/project/new", {{"projectName", own}, {"operator", "load"}})};
        if (op.reply.TryCode() == 10000) mine_[thread] = own;
        return op;
      }
      case 9: {
        if (mine_[thread].empty()) {
          return {"info " + kept, conn.Get("/api/project/info?projectName=" + kept)};
        }
        std::string name = std::exchange(mine_[thread], std::string());
        return {"delete " + name,
                conn.PostJson("/api/project/delete", {{"projectName", name}, {"operator", "load"}})};
      }
      case 10:
        return {"clone " + kept + " to " + own,
                conn.PostJson("/api/project/clone", {{"srcProjectName", kept},
                                                     {"dstProjectName", own},
                                                     {"operator", "load"}})};
      default:
        // No registry is configured: the project is read first, then 10013 says builds are off.
        return {"build " + kept,
                conn.PostJson("/api/project/build", {{"projectName", kept}, {"operator", "load"}}),
                10013};
    }
  }

 private:
  std::string tag_;
  long long build_id_;
  std::vector<std::string> mine_;  // one slot per thread, touched only by that thread
};

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The server's log lines that carry request id `id` (text format: "[rid=ID]").
std::vector<std::string> LinesOf(const std::string& log, const std::string& id) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find("[rid=" + id + "]") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

void ShutDownUnderLoad(const std::string& mode) {
  market::testing::TempDir dir;
  PgCluster pg;
  const std::string url = pg.Url();  // postgresql://postgres@127.0.0.1:PORT/postgres
  const std::size_t colon = url.rfind(':');
  const std::string port = url.substr(colon + 1, url.find('/', colon) - colon - 1);
  // No build runs here (no registry): the build sandbox is opted out of so that a host which
  // cannot make it does not refuse builds (10017) before the project is even read.
  ServerProcess server({"--listen", "127.0.0.1:0", "--database", pg.Url(), "--workspace",
                        (dir.path() / "ws").string(), "--log-level", "info",
                        "--build-isolation", "chroot"},
                       dir.path() / "server.log");

  HttpClient setup(server.port(), 15s);
  for (int i = 0; i < kKeptProjects; ++i) {
    REQUIRE(setup.PostJson("/api/project/new", {{"projectName", Kept(i)}, {"operator", "load"}})
                .TryCode() == 10000);
    REQUIRE(setup.PostJson("/api/project/save", SaveBody(Kept(i), 0)).TryCode() == 10000);
  }
  // A finished build with a log, as a worker leaves it (no registry here to build with).
  pg.Query(
      "INSERT INTO builds (project_id, project, tag, operator, image, queued_at, started_at, "
      "finished_at, state, log_size, log_chunks) SELECT id, name, 'v1', 'load', "
      "'registry.invalid/default/keep0:v1', 1, 2, 3, 'succeeded', 12, 1 FROM projects "
      "WHERE name = 'keep0'");
  const long long build_id = std::stoll(pg.Query("SELECT max(id) FROM builds"));
  pg.Query("INSERT INTO build_logs (build_id, seq, byte_offset, text) VALUES (" +
           std::to_string(build_id) + ", 0, 0, 'hello world\n')");
  REQUIRE(setup.Get("/api/project/buildLog?id=" + std::to_string(build_id)).TryCode() == 10000);
  // Each endpoint's answer with the database up is the one the load counts as its success.
  Endpoints warmup("warmup", build_id);
  for (int i = 0; i < 12; ++i) {
    Op op = warmup.Call(0, i, setup);
    INFO(op.what << ": " << op.reply.body.substr(0, 300));
    REQUIRE(op.reply.TryCode() == op.success);
  }

  auto endpoints = std::make_shared<Endpoints>(mode, build_id);
  std::mutex expected_mu;
  struct Expect {
    std::string what;
    int success;
  };
  // The success code of each sample, keyed by (thread, its n-th sample).
  std::map<std::pair<int, int>, Expect> expected;
  Load load(
      server.port(), kThreads,
      [&](int thread, int iteration, HttpClient& conn) {
        Op op = endpoints->Call(thread, iteration, conn);
        {
          std::lock_guard lock(expected_mu);
          expected[{thread, iteration}] = {op.what, op.success};
        }
        return std::make_pair(std::to_string(iteration) + " " + op.what, std::move(op.reply));
      },
      15s);

  // Two outages, so that the load meets the database both going down and coming back more
  // than once.
  std::this_thread::sleep_for(1500ms);
  std::vector<std::pair<Clock::time_point, Clock::time_point>> recoveries;
  HttpClient probe(server.port(), 15s);
  for (int round = 0; round < 2; ++round) {
    pg.Stop(mode);
    std::this_thread::sleep_for(1500ms);
    pg.Start();
    const auto up = Clock::now();
    // Recovery: the next requests find new connections.
    REQUIRE(WaitFor([&] { return probe.Get("/api/project/info?projectName=keep1").TryCode() == 10000; },
                    5s, 50ms));
    recoveries.emplace_back(up, Clock::now());
    std::this_thread::sleep_for(1500ms);
  }
  load.Stop();

  const std::string log = server.Log();
  std::vector<Load::Sample> samples = load.Samples();
  std::map<int, int> seen_per_thread;
  int ok = 0, unavailable = 0, traced = 0;
  std::set<std::string> wrong;
  for (const Load::Sample& s : samples) {
    const int n = std::stoi(s.what.substr(0, s.what.find(' ')));
    Expect expect;
    {
      std::lock_guard lock(expected_mu);
      expect = expected.at({s.thread, n});
    }
    const Reply& r = s.reply;
    INFO(s.what << ": HTTP " << r.status << " in " << r.elapsed.count() << " ms "
                << (r.answered() ? r.body.substr(0, 400) : "error: " + r.error));
    // Never a dropped connection: the server answers whatever the database does.
    REQUIRE(r.answered());
    const int code = r.TryCode();
    const bool success = code == expect.success;
    const bool is_unavailable = code == 10017;
    // Only two answers are true while the database goes away: the real one, or 10017. A
    // project or build that exists is never "not found" (10002, 10003, 10007, 10008, 10011),
    // and a failure of the database is not the server's bug (10100 / 500).
    if (!success && !is_unavailable) wrong.insert(s.what.substr(s.what.find(' ') + 1) + " -> " +
                                                  std::to_string(code));
    CHECK((success || is_unavailable));
    if (is_unavailable) CHECK(r.status == 503);
    if (code == 10000) CHECK(r.status == 200);
    ok += success ? 1 : 0;
    unavailable += is_unavailable ? 1 : 0;
    if (code != 10000 && code != -1) {
      std::string message = r.TryJson().value("errMsg", "");
      const std::string request_id =
          r.headers.count("x-request-id") != 0 ? r.headers.at("x-request-id") : "";
      if (is_unavailable) {
        // The client's text says what happened and which request to look for in the log.
        CHECK_THAT(message, Catch::Contains("database"));
        REQUIRE(!request_id.empty());
        CHECK_THAT(message, Catch::Contains("request id " + request_id));
      }
      // Nothing about where the database is or what it is called (the request id is random hex
      // and may hold the port's digits: it is taken out first).
      if (!request_id.empty()) {
        for (auto at = message.find(request_id); at != std::string::npos;
             at = message.find(request_id)) {
          message.erase(at, request_id.size());
        }
      }
      const std::string lower = Lower(message);
      CHECK(lower.find("127.0.0.1") == std::string::npos);
      CHECK(lower.find("localhost") == std::string::npos);
      CHECK(lower.find("postgres") == std::string::npos);  // the database, its user, the server
      CHECK(lower.find(port) == std::string::npos);
      CHECK(lower.find("connection to server") == std::string::npos);
      CHECK(message.find(dir.path().string()) == std::string::npos);
      CHECK(lower.find("/tmp") == std::string::npos);
      // The detail went to the server's log under the same request id.
      if (is_unavailable && traced < 20) {
        ++traced;
        bool logged = false;
        for (const std::string& line : LinesOf(log, request_id)) {
          if (line.find("database") != std::string::npos) logged = true;
        }
        CHECK(logged);
      }
    }
    // Once the server answered again, everything succeeds.
    for (const auto& [up, recovered] : recoveries) {
      if (s.start > recovered + 500ms && s.start + r.elapsed < recovered + 1400ms) {
        CHECK(success);
      }
    }
    ++seen_per_thread[s.thread];
  }
  INFO("wrong answers: " << [&] {
    std::string all;
    for (const std::string& w : wrong) all += "\n  " + w;
    return all;
  }());
  CHECK(wrong.empty());
  // The test saw both sides: answers with the database up and while it was down.
  CHECK(ok >= 50);
  CHECK(unavailable >= 10);
  CHECK(static_cast<int>(seen_per_thread.size()) == kThreads);

  // The projects that exist throughout are all there, and the server serves on.
  for (int i = 0; i < kKeptProjects; ++i) {
    CHECK(probe.Get("/api/project/info?projectName=" + Kept(i)).TryCode() == 10000);
  }
  CHECK(probe.Get("/readyz").status == 200);
  ExpectCleanStop(server);
}

}  // namespace

TEST_CASE("PostgreSQL shut down under load: every answer is the truth or 10017",
          "[fault][postgres][shutdown]") {
  if (!PgCluster::Available()) {
    WARN("PostgreSQL 15 binaries not installed: skipping");
    return;
  }
  SECTION("pg_ctl stop -m fast") { ShutDownUnderLoad("fast"); }
  SECTION("pg_ctl stop -m immediate") { ShutDownUnderLoad("immediate"); }
}

}  // namespace market::fault
