#include "server_harness.hpp"

#include <catch2/catch.hpp>

#include "logging.hpp"
#include "support/test_env.hpp"

namespace market::server::testing {

TestServer::TestServer(market::testing::Backend backend,
                       const std::function<void(ServerConfig&)>& tweak,
                       const std::function<void(Stores&)>& prepare)
    : database_(backend) {
  static bool logging = [] {
    SetUpLogging("warn");
    return true;
  }();
  (void)logging;
  ServerConfig config;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.database = database_.url();
  config.workspace = workspace_.path();
  config.build_workers = 1;
  config.io_threads = 2;
  config.blocking_threads = 4;
  config.header_timeout = std::chrono::seconds(2);
  config.idle_timeout = std::chrono::seconds(10);
  config.shutdown_grace = std::chrono::seconds(10);
  // Builds pull the base image from the plain-HTTP test registry while pushing to the test's own.
  if (auto base = market::testing::RegistryHost()) config.insecure_registries = {*base};
  if (tweak) tweak(config);
  if (prepare) {
    auto stores = database_.Open(1);
    if (!stores) FAIL("database: " << stores.error().message);
    prepare(*stores);
  }
  auto app = ServerApp::Create(config);
  if (!app) FAIL("server did not start: " << app.error().message);
  app_ = std::move(*app);
  port_ = app_->Port();
  thread_ = std::thread([this] { app_->Run(); });
}

void TestServer::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  app_->Shutdown();
  thread_.join();
}

TestServer::~TestServer() {
  Shutdown();
  app_.reset();
}

}  // namespace market::server::testing
