// StoreOptions::call_timeout_ms on PostgreSQL: a call whose server process is stopped (SIGSTOP:
// the kernel keeps the TCP connection up, so libpq waits forever) has its connection cut by the
// pool's watchdog and fails with kUnavailable; the next call gets a fresh connection.
// Needs MARKET_TEST_POSTGRES_URL on this machine (the test signals the backend process).

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "market/project_store.hpp"
#include "market/store.hpp"
#include "support/test_stores.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One value from psql -Atc on the administrator URL.
std::string PsqlValue(const std::string& url, const std::string& sql) {
  const std::string command = "psql '" + url + "' -Atc \"" + sql + "\" 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("popen failed");
  std::string out;
  char buffer[256];
  while (fgets(buffer, sizeof buffer, pipe.get()) != nullptr) out += buffer;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Thaws the backend whatever happens, so a failed check cannot leave it stopped.
struct Stopped {
  explicit Stopped(pid_t backend) : pid(backend) { ::kill(pid, SIGSTOP); }
  ~Stopped() { ::kill(pid, SIGCONT); }
  pid_t pid;
};

}  // namespace

TEST_CASE("a call on a stopped PostgreSQL backend is cut after call_timeout_ms",
          "[sql][postgres]") {
  auto admin_url = market::testing::PostgresUrl();
  if (!admin_url) {
    WARN("MARKET_TEST_POSTGRES_URL is not set: skipping");
    return;
  }
  market::testing::TestDatabase db(market::testing::Backend::kPostgres);
  market::StoreOptions options;
  options.url = db.url();
  options.pool_size = 1;  // one session, so the stopped backend is the one every call uses
  options.call_timeout_ms = 1000;
  auto stores = market::OpenStores(options);
  REQUIRE(stores);
  REQUIRE(stores->projects->Get("none").error().code == market::Errc::kNotFound);

  const std::string pid_text = PsqlValue(
      *admin_url, "SELECT pid FROM pg_stat_activity WHERE datname = '" + db.database_name() +
                      "' AND backend_type = 'client backend'");
  INFO("backend: " << pid_text);
  REQUIRE(pid_text.find_first_not_of("0123456789") == std::string::npos);
  REQUIRE(!pid_text.empty());
  const pid_t backend = static_cast<pid_t>(std::stol(pid_text));
  {
    Stopped stopped(backend);
    const auto start = Clock::now();
    auto got = stores->projects->Get("none");
    const auto took = Clock::now() - start;
    REQUIRE(!got);
    CHECK(got.error().code == market::Errc::kUnavailable);
    CHECK_THAT(got.error().message, Catch::Contains("did not answer within 1000 ms") &&
                                        Catch::Contains("project get"));
    // Cut at the deadline (the watchdog looks four times a second), not after minutes.
    CHECK(took >= 1000ms);
    CHECK(took < 10s);
  }
  // The cut session is replaced: the next call connects afresh and succeeds.
  auto after = stores->projects->Get("none");
  REQUIRE(!after);
  CHECK(after.error().code == market::Errc::kNotFound);
}
