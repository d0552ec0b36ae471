#include "server_harness.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <sodium.h>

#include <cstring>

#include "logging.hpp"
#include "support/test_env.hpp"

namespace market::server::testing {

namespace net = boost::asio;
namespace beast = boost::beast;

nlohmann::json Reply::Json() const {
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  INFO("body: " << body);
  REQUIRE_FALSE(parsed.is_discarded());
  return parsed;
}

int Reply::Code() const {
  nlohmann::json parsed = Json();
  INFO("body: " << body);
  REQUIRE(parsed.contains("code"));
  return parsed["code"].get<int>();
}

std::string Reply::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Reply ToReply(const http::response<http::string_body>& response) {
  Reply reply;
  reply.status = response.result_int();
  for (const auto& field : response) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(field.value());
  }
  reply.body = response.body();
  return reply;
}

std::string BasicAuthorization(const std::string& user, const std::string& password) {
  std::string plain = user + ":" + password;
  std::string encoded(sodium_base64_ENCODED_LEN(plain.size(), sodium_base64_VARIANT_ORIGINAL),
                      '\0');
  sodium_bin2base64(encoded.data(), encoded.size(),
                    reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  encoded.resize(std::strlen(encoded.c_str()));
  return "Basic " + encoded;
}

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

TestClient::TestClient(std::uint16_t port) : stream_(io_) {
  stream_.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
}

Reply TestClient::Request(http::verb method, const std::string& target, const std::string& body,
                          const std::string& content_type,
                          const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.keep_alive(true);
  if (!content_type.empty()) request.set(http::field::content_type, content_type);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  http::write(stream_, request);
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(stream_, buffer_, parser);
  return ToReply(parser.get());
}

Reply TestClient::Get(const std::string& target, const std::map<std::string, std::string>& headers) {
  return Request(http::verb::get, target, "", "", headers);
}

Reply TestClient::PostJson(const std::string& target, const nlohmann::json& body,
                           const std::map<std::string, std::string>& headers) {
  return Request(http::verb::post, target, body.dump(), "application/json", headers);
}

Reply TestClient::PostForm(const std::string& target, const std::string& body,
                           const std::map<std::string, std::string>& headers) {
  return Request(http::verb::post, target, body, "application/x-www-form-urlencoded", headers);
}

bool TestClient::ClosedByServer(std::chrono::milliseconds wait) {
  beast::error_code ec;
  char byte;
  stream_.expires_after(wait);
  bool closed = false;
  stream_.async_read_some(net::buffer(&byte, 1), [&](beast::error_code read_ec, std::size_t) {
    ec = read_ec;
    closed = read_ec != beast::error::timeout;
  });
  io_.restart();
  io_.run();
  return closed;
}

Reply Call(std::uint16_t port, http::verb method, const std::string& target,
           const std::string& body, const std::string& content_type) {
  TestClient client(port);
  return client.Request(method, target, body, content_type);
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace market::server::testing
