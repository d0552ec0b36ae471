#pragma once
// The real market-server, started in-process on a free loopback port against a fresh database,
// and a small synchronous Beast client to talk to it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "config.hpp"
#include "support/test_env.hpp"
#include "support/test_stores.hpp"

namespace market::server::testing {

namespace http = boost::beast::http;

struct Reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  nlohmann::json Json() const;  // the body as JSON (fails the test if it is not)
  int Code() const;             // the envelope's "code"
  std::string Header(const std::string& lower_name) const;
};

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

// One keep-alive connection.
// A response as a Reply: status, lower-case header names, body.
Reply ToReply(const http::response<http::string_body>& response);

// "Basic <base64 of user:password>", an Authorization header's value.
std::string BasicAuthorization(const std::string& user, const std::string& password);

class TestClient {
 public:
  explicit TestClient(std::uint16_t port);
  Reply Request(http::verb method, const std::string& target, const std::string& body = "",
                const std::string& content_type = "",
                const std::map<std::string, std::string>& headers = {});
  Reply Get(const std::string& target, const std::map<std::string, std::string>& headers = {});
  Reply PostJson(const std::string& target, const nlohmann::json& body,
                 const std::map<std::string, std::string>& headers = {});
  Reply PostForm(const std::string& target, const std::string& body,
                 const std::map<std::string, std::string>& headers = {});
  // Whether the server has closed this connection (reads EOF within `wait`).
  bool ClosedByServer(std::chrono::milliseconds wait);

 private:
  boost::asio::io_context io_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

// A one-request helper on a fresh connection.
Reply Call(std::uint16_t port, http::verb method, const std::string& target,
           const std::string& body = "", const std::string& content_type = "");

std::string UrlEncode(std::string_view text);

}  // namespace market::server::testing
