// market-server: reads its configuration, assembles the service and serves until SIGINT/SIGTERM.

#include <malloc.h>
#include <sys/resource.h>

#include <csignal>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "app.hpp"
#include "auth.hpp"
#include "config.hpp"
#include "doctor.hpp"
#include "identity_commands.hpp"
#include "logging.hpp"

namespace {

// `market-server --hash-password`: reads a password from stdin, prints the users-file hash.
int HashPasswordCommand() {
  std::string password;
  std::getline(std::cin, password);
  if (password.empty()) {
    std::fprintf(stderr, "market-server: no password on standard input\n");
    return 2;
  }
  auto hash = market::server::HashPassword(password);
  if (!hash) {
    std::fprintf(stderr, "market-server: %s\n", hash.error().message.c_str());
    return 1;
  }
  std::printf("%s\n", hash->c_str());
  return 0;
}

// Each connection is a descriptor: make room for max-connections plus the database, the
// registry and build processes, within the hard limit.
void RaiseDescriptorLimit(int max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  rlim_t wanted = static_cast<rlim_t>(max_connections) + 256;
  if (limit.rlim_cur >= wanted) return;
  rlim_t previous = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < wanted) {
    spdlog::warn("open-file limit {} is below max-connections {} + 256; raise it (ulimit -n)",
                 limit.rlim_cur > previous ? limit.rlim_cur : previous, max_connections);
  }
}

// glibc gives each thread that meets a busy allocator an arena of its own, up to 8 per core,
// and each keeps the memory freed into it. Requests allocate on an I/O thread and free on a
// worker and back, so the server's peak RSS grew with every burst: 49.7 MiB after three rounds
// of the SQLite benchmark at a million projects, 40.6 MiB with two arenas at the same speed.
// MALLOC_ARENA_MAX, when set, still decides.
void LimitMallocArenas() {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
}

}  // namespace

int main(int argc, char** argv) {
  LimitMallocArenas();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--hash-password") return HashPasswordCommand();
  if (market::server::IsDoctorCommand(args)) {
    return market::server::RunDoctorCommand(args, stdout, stderr);
  }
  if (market::server::IsIdentityCommand(args)) {
    return market::server::RunIdentityCommand(args, market::server::ProcessEnv(), stdin, stdout,
                                              stderr);
  }

  auto outcome = market::server::LoadConfig(args, market::server::ProcessEnv());
  if (!outcome) {
    std::fprintf(stderr, "market-server: %s\n", outcome.error().message.c_str());
    return 2;
  }
  using Action = market::server::ConfigOutcome::Action;
  if (outcome->action != Action::kRun) {
    std::fputs(outcome->text.c_str(), stdout);
    return 0;
  }

  market::server::SetUpLogging(
      outcome->config.log_level,
      market::server::ParseLogFormat(outcome->config.log_format).value_or(
          market::server::LogFormat::kText));
  RaiseDescriptorLimit(outcome->config.max_connections);
  auto app = market::server::ServerApp::Create(outcome->config);
  if (!app) {
    spdlog::critical("cannot start: {}", app.error().message);
    return 1;
  }

  boost::asio::signal_set signals((*app)->Context(), SIGINT, SIGTERM);
  signals.async_wait([&app](const boost::system::error_code& ec, int signal_number) {
    if (ec) return;
    spdlog::info("signal {}: stopping (finishing requests in flight)", signal_number);
    (*app)->Shutdown();
  });
  (*app)->Run();
  return 0;
}
