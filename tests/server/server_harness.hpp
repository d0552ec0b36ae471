#pragma once
// The real market-server, started in-process on a free loopback port against a fresh database,
// and the tests' HTTP client to talk to it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "config.hpp"
#include "support/http_client.hpp"
#include "support/test_env.hpp"
#include "support/test_stores.hpp"

namespace market::server::testing {

namespace http = boost::beast::http;

class TestServer {
 public:
  // `tweak` may change the configuration before the server starts; `prepare` may fill the
  // (already migrated) database before the server starts.
  explicit TestServer(market::testing::Backend backend = market::testing::Backend::kSqlite,
                      const std::function<void(ServerConfig&)>& tweak = {},
                      const std::function<void(Stores&)>& prepare = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  const market::testing::TestDatabase& database() const { return database_; }
  void Shutdown();  // graceful; the destructor calls it too

 private:
  market::testing::TestDatabase database_;
  market::testing::TempDir workspace_;
  std::unique_ptr<ServerApp> app_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

using market::testing::BasicAuthorization;
using market::testing::Call;
using market::testing::Headers;
using market::testing::Reply;
using market::testing::UrlEncode;
// One keep-alive connection with timeouts.
using TestClient = market::testing::HttpClient;

}  // namespace market::server::testing
