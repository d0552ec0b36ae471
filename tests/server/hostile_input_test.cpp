// The binary as a subprocess under hostile bodies: ~600 KB of nested JSON once overflowed a
// thread's stack and took the process down with every build in it. Now each such body is
// answered 10006 with HTTP 400 naming the nesting limit, the process lives on, nothing changes.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "server_child.hpp"
#include "support/test_stores.hpp"

namespace {

using market::server::testing::Child;
using market::server::testing::Spawn;
using market::server::testing::WaitForPort;
using market::testing::Backend;
using market::testing::TestDatabase;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::string_view kTooDeep = "JSON nesting deeper than 64 levels";

struct Reply {
  unsigned status = 0;  // 0: no answer (`error` says why)
  std::string body;
  std::string error;
};

// One request on a fresh connection. A server that died answers nothing: that is a failed
// check, not an exception that hides which request it was.
Reply Call(int port, http::verb method, const std::string& target, const std::string& body = "",
           const std::string& content_type = "") {
  try {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                          static_cast<unsigned short>(port)));
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) request.set(http::field::content_type, content_type);
    request.body() = body;
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream, buffer, parser);
    return Reply{parser.get().result_int(), parser.get().body(), ""};
  } catch (const std::exception& e) {
    return Reply{0, "", e.what()};
  }
}

// The body as JSON; an empty object when it is not JSON (the checks on it then fail).
nlohmann::json JsonOf(const Reply& reply) {
  nlohmann::json parsed = nlohmann::json::parse(reply.body, nullptr, false);
  return parsed.is_object() ? parsed : nlohmann::json::object();
}

// The child's log, drained as it comes so that a full pipe never stalls the server (start-up
// waits for the "listening on" line, logged at info).
class RunningServer {
 public:
  explicit RunningServer(const std::string& database_url) {
    child_ = Spawn({"--listen", "127.0.0.1:0", "--database", database_url, "--log-level", "info"});
    port_ = WaitForPort(child_.stderr_fd, log_);
    if (port_ > 0) {
      reader_ = std::thread([this] {
        char buffer[4096];
        for (ssize_t n; (n = read(child_.stderr_fd, buffer, sizeof buffer)) > 0;) {
          later_log_.append(buffer, static_cast<std::size_t>(n));
        }
      });
    }
  }
  ~RunningServer() { Stop(); }
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  int port() const { return port_; }
  const std::string& start_log() const { return log_; }
  // Whether the process is still running (it has not exited or been killed by a signal). A
  // child that ended is reaped here, and its pid forgotten: Stop must not signal a pid the
  // system may already have given to another process.
  bool Alive() {
    if (child_.pid <= 0) return false;
    if (waitpid(child_.pid, nullptr, WNOHANG) == 0) return true;
    child_.pid = -1;
    return false;
  }
  // SIGTERM and wait; the log after start-up (read it only after Stop).
  void Stop() {
    if (child_.pid > 0) {
      kill(child_.pid, SIGTERM);
      waitpid(child_.pid, nullptr, 0);
      child_.pid = -1;
    }
    if (reader_.joinable()) reader_.join();
    if (child_.stderr_fd >= 0) close(child_.stderr_fd);
    child_.stderr_fd = -1;
  }
  const std::string& later_log() const { return later_log_; }

 private:
  Child child_;
  int port_ = -1;
  std::string log_;
  std::string later_log_;
  std::thread reader_;
};

std::string NestedArrays(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

std::string NestedObjects(std::size_t levels) {
  std::string text;
  text.reserve(levels * 6 + 1);
  for (std::size_t i = 0; i < levels; ++i) text += R"({"a":)";
  text += '1';
  text += std::string(levels, '}');
  return text;
}

// A request every one of the four endpoints would act on, with `deep` as one more field: only
// the nesting limit stands between it and a new project, a changed one, or an extension call.
std::string WithDeepField(const std::string& deep) {
  return R"({"projectName":"intruder","project":"victim","operator":"root","Cluster":"changed",)"
         R"("addOrUpdate":"update","plugin":"base_image_choose_from_harbor",)"
         R"("method":"BaseImageList","deep":)" +
         deep + "}";
}

}  // namespace

TEST_CASE("600 KB of nested JSON is refused and the server lives on", "[process][limits]") {
  for (Backend backend : market::testing::AvailableBackends()) {
    DYNAMIC_SECTION(market::testing::ToString(backend)) {
      TestDatabase database(backend);
      RunningServer server(database.url());
      INFO("server log: " << server.start_log());
      REQUIRE(server.port() > 0);
      const int port = server.port();

      const std::string kJson = "application/json";
      Reply made = Call(port, http::verb::post, "/api/project/new",
                        R"({"projectName":"victim","operator":"root"})", kJson);
      REQUIRE(made.status == 200);
      Reply info_before = Call(port, http::verb::get, "/api/project/info?projectName=victim");
      REQUIRE(info_before.status == 200);

      const std::string arrays = NestedArrays(300000);   // 600 KB
      const std::string objects = NestedObjects(100000);  // 600 KB
      struct Body {
        std::string what;
        std::string text;
        std::string content_type;
      };
      const std::vector<Body> bodies = {
          {"nested arrays", arrays, kJson},
          {"nested objects", objects, kJson},
          {"nested arrays in a field", WithDeepField(arrays), kJson},
          {"nested objects in a field", WithDeepField(objects), kJson},
          {"nested objects in a field, no content type", WithDeepField(objects), ""},
          {"nested arrays in curl's mixed body", "method=x&" + WithDeepField(arrays), kJson},
      };
      for (const std::string target : {"/api/project/save", "/api/project/new",
                                       "/api/project/list", "/api/plugin/extension/interface"}) {
        for (const Body& body : bodies) {
          INFO(target << ": " << body.what);
          Reply reply = Call(port, http::verb::post, target, body.text, body.content_type);
          INFO("error: " << reply.error << "; reply: " << reply.body.substr(0, 400));
          CHECK(reply.status == 400);
          nlohmann::json answer = JsonOf(reply);
          CHECK(answer.value("code", 0) == 10006);
          CHECK_THAT(answer.value("errMsg", ""), Catch::Contains(std::string(kTooDeep)));
        }
      }

      // Still alive, still answering, and nothing changed.
      CHECK(server.Alive());
      CHECK(Call(port, http::verb::get, "/healthz").status == 200);
      Reply info_after = Call(port, http::verb::get, "/api/project/info?projectName=victim");
      CHECK(info_after.status == 200);
      CHECK(JsonOf(info_after) == JsonOf(info_before));
      Reply intruder = Call(port, http::verb::get, "/api/project/info?projectName=intruder");
      CHECK(intruder.status == 404);
      Reply list = Call(port, http::verb::get, "/api/project/list");
      CHECK(JsonOf(list).value("total_count", -1) == 1);
    }
  }
}
