// 1,000 keep-alive connections held open (the default --max-connections is 1024): the server's
// memory stays bounded, does not grow with further requests on them, and other clients are
// still served.

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "fault/fault_support.hpp"

namespace market::fault {
namespace {

constexpr int kConnections = 1000;
// The stated bound: an idle keep-alive connection costs the server less than 64 KiB (its socket
// buffers are the kernel's and do not count). AddressSanitizer's redzones and quarantine
// multiply heap use, so a sanitized server gets three times as much.
constexpr long kKibPerConnection = 64;

bool Sanitized(pid_t pid) {
  return ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/maps").find("libasan") != std::string::npos;
}

void RaiseOwnFileLimit(rlim_t wanted) {
  rlimit limit{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
  if (limit.rlim_cur >= wanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);
  REQUIRE(limit.rlim_cur >= wanted);
}

}  // namespace

TEST_CASE("1,000 keep-alive connections: bounded memory, other clients still served",
          "[fault][connections]") {
  RaiseOwnFileLimit(kConnections + 512);
  market::testing::TempDir dir;
  // Under ASan, freed memory waits in a quarantine of up to 256 MiB before reuse, so RSS would
  // grow with every request whatever the server does; a small one keeps RSS about the server.
  // (A build without ASan ignores the variable.)
  const char* asan_options = std::getenv("ASAN_OPTIONS");
  ServerProcess server(
      {"--listen", "127.0.0.1:0", "--database", "sqlite:" + (dir.path() / "market.db").string(),
       "--workspace", (dir.path() / "ws").string(), "--log-level", "info",
       // Every connection here comes from 127.0.0.1: lift the per-address bound (256).
       "--max-connections-per-address", "2000"},
      dir.path() / "server.log",
      {{"ASAN_OPTIONS", std::string(asan_options != nullptr ? asan_options : "") +
                            ":quarantine_size_mb=8:thread_local_quarantine_size_kb=64"}});
  const bool sanitized = Sanitized(server.pid());

  // Warm up the paths the connections use, then measure.
  HttpClient warm(server.port(), 30s);
  for (int i = 0; i < 20; ++i) REQUIRE(warm.Get("/healthz").status == 200);
  REQUIRE(warm.Get("/api/project/list").TryCode() == 10000);
  const long baseline = server.RssKib();
  REQUIRE(baseline > 0);

  std::vector<HttpClient> held;
  held.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) {
    held.emplace_back(server.port(), 30s);
    Reply reply = held.back().Get("/healthz");
    INFO("connection " << i << ": " << reply.error);
    REQUIRE(reply.status == 200);
  }
  const long with_connections = server.RssKib();

  // Another client is served at once, through the API and the database.
  HttpClient other(server.port(), 30s);
  Reply created = other.PostJson("/api/project/new", {{"projectName", "other"}, {"operator", "x"}});
  CHECK(created.TryCode() == 10000);
  CHECK(other.Get("/api/project/info?projectName=other").TryCode() == 10000);

  // The held connections are still open and served: a second round on every one of them.
  int reconnected = 0;
  for (HttpClient& conn : held) {
    Reply reply = conn.Get("/api/project/list?page=1&page_size=1");
    REQUIRE(reply.status == 200);
    reconnected += conn.reconnects();
  }
  CHECK(reconnected == 0);
  const long after_second_round = server.RssKib();

  const long factor = sanitized ? 3 : 1;
  const long bound = kConnections * kKibPerConnection * factor;
  INFO("VmRSS: " << baseline << " KiB idle, " << with_connections << " KiB with " << kConnections
                 << " connections, " << after_second_round << " KiB after a second request on "
                 << "each; bound " << bound << " KiB of growth" << (sanitized ? " (ASan)" : ""));
  CHECK(with_connections - baseline < bound);
  CHECK(after_second_round - baseline < bound);
  // Requests on open connections do not accumulate memory: 1,000 more cost far less than the
  // connections themselves.
  CHECK(after_second_round - with_connections < bound / 4);

  held.clear();
  CHECK(other.Get("/healthz").status == 200);
  ExpectCleanStop(server);
}

}  // namespace market::fault
