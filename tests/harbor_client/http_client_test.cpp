// The HTTP client and the helpers both registry kinds share.
#include "market/harbor_client/http_client.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "distribution_registry.hpp"
#include "harbor_client/fake_http_server.hpp"
#include "harbor_client/registry_process.hpp"
#include "harbor_registry.hpp"
#include "registry_http.hpp"
#include "support/ports.hpp"

namespace market::harbor {
namespace {

using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::RecordedRequest;

std::unique_ptr<HttpClient> Client(int retries = 2) {
  HttpClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.request_timeout = std::chrono::milliseconds(1000);
  options.max_retries = retries;
  options.backoff = std::chrono::milliseconds(10);
  return std::move(*HttpClient::Create(options));
}

HttpRequest Get(const std::string& url, std::string method = "GET") {
  return HttpRequest{std::move(method), *ParseUrl(url), {}, {}};
}

// A client that checks destinations and allows `allow` (comma-separated CIDRs).
std::unique_ptr<HttpClient> VettingClient(std::string_view allow = "") {
  HttpClientOptions options;
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.request_timeout = std::chrono::milliseconds(1000);
  options.max_retries = 0;
  options.destinations = NetworkRules{{}, *ParseIpRanges("allow", allow)};
  return std::move(*HttpClient::Create(options));
}

std::string Port(const FakeHttpServer& server) {
  const std::string url = server.Url();
  return url.substr(url.rfind(':') + 1);
}

// Whether `server` has accepted a connection; waits a little so that one in flight is counted.
bool Contacted(const FakeHttpServer& server) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return server.Connections() > 0;
}

// Answers the first request of one connection with `head` and then `body_bytes` bytes of 'x'
// (endless when 0) as fast as the client takes them, and counts what it sent. What a receiver
// that wants to fill the client's memory does; FakeHttpServer holds its answers in memory.
class StreamingServer {
 public:
  StreamingServer(std::string head, std::size_t body_bytes)
      : head_(std::move(head)), body_bytes_(body_bytes) {
    listen_fd_ = testing::ListenLoopback(port_);
    thread_ = std::thread([this] { Serve(); });
  }
  ~StreamingServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  std::size_t Sent() const { return sent_.load(); }

 private:
  void Serve() {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const auto n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    const std::string chunk(64 * 1024, 'x');
    bool ok = ::send(fd, head_.data(), head_.size(), MSG_NOSIGNAL) > 0;
    while (ok && !stopping_ && (body_bytes_ == 0 || sent_ < body_bytes_)) {
      const std::size_t size =
          body_bytes_ == 0 ? chunk.size() : std::min(chunk.size(), body_bytes_ - sent_);
      const auto n = ::send(fd, chunk.data(), size, MSG_NOSIGNAL);
      ok = n > 0;
      if (ok) sent_ += static_cast<std::size_t>(n);
    }
    // Holds the connection open (never ends the body) until the client closes it.
    while (!stopping_ && ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) != 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::close(fd);
  }

  std::string head_;
  std::size_t body_bytes_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> sent_{0};
  std::thread thread_;
};

TEST_CASE("ParseUrl splits and checks registry URLs", "[http]") {
  auto url = ParseUrl("HTTPS://Harbor.Example.com:8443/api?x=1");
  REQUIRE(url);
  CHECK(url->scheme == "https");
  CHECK(url->host == "harbor.example.com");
  CHECK(url->port == 8443);
  CHECK(url->target == "/api?x=1");
  CHECK(url->HostPort() == "harbor.example.com:8443");

  auto plain = ParseUrl("http://127.0.0.1");
  REQUIRE(plain);
  CHECK(plain->port == 80);
  CHECK(plain->HostPort() == "127.0.0.1");
  CHECK(plain->target == "/");

  auto v6 = ParseUrl("http://[::1]:5000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->HostPort() == "[::1]:5000");

  CHECK(ParseUrl("ftp://x").error().message == "url: scheme must be http or https");
  CHECK(ParseUrl("http://:5000").error().message == "url: host is missing");
  CHECK(ParseUrl("http://h:0").error().message.find("port") != std::string::npos);
  CHECK(ParseUrl("http://h:99999").error().message.find("port") != std::string::npos);
  CHECK(ParseUrl("http://u:secret@h").error().message.find("user info") != std::string::npos);
  CHECK(ParseUrl("harbor.example.com").error().code == Errc::kInvalid);
}

TEST_CASE("ResolveUrl handles absolute URLs and paths", "[http]") {
  auto base = *ParseUrl("http://127.0.0.1:5000/v2/_catalog?n=1");
  CHECK(ResolveUrl(base, "/v2/_catalog?last=a&n=1")->target == "/v2/_catalog?last=a&n=1");
  auto other = ResolveUrl(base, "https://auth.example.com/token");
  REQUIRE(other);
  CHECK(other->Origin() == "https://auth.example.com:443");
}

TEST_CASE("PercentEncode keeps only unreserved characters", "[http]") {
  CHECK(PercentEncode("a/b c~_.-") == "a%2Fb%20c~_.-");
  CHECK(HarborRepositoryPath("a/b") == "a%252Fb");
  CHECK(HarborRepositoryPath("app") == "app");
}

TEST_CASE("ParseChallenge reads Bearer parameters", "[http]") {
  auto c = ParseChallenge(
      R"(Bearer realm="https://h/service/token",service="harbor-registry",scope="repository:a/b:pull,push")");
  CHECK(c["realm"] == "https://h/service/token");
  CHECK(c["service"] == "harbor-registry");
  CHECK(c["scope"] == "repository:a/b:pull,push");
}

TEST_CASE("NextLink finds rel=next", "[http]") {
  CHECK(NextLink(R"(</v2/_catalog?last=b&n=2>; rel="next")") == "/v2/_catalog?last=b&n=2");
  CHECK(NextLink(R"(</p?page=1>; rel="prev" , </p?page=3>; rel="next")") == "/p?page=3");
  CHECK_FALSE(NextLink(R"(</p?page=1>; rel="prev")"));
  CHECK_FALSE(NextLink(""));
}

TEST_CASE("Synthetic project ids are stable hashes that JavaScript reads exactly", "[http]") {
  // Pinned (FNV-1a 64 of "base", low 53 bits): clients keep ids, so the hash must not change.
  CHECK(SyntheticProjectId("base") == SyntheticProjectId(std::string("base")));
  CHECK(SyntheticProjectId("base") != SyntheticProjectId("basf"));
  CHECK(SyntheticProjectId("base") > 0);
  CHECK(SyntheticProjectId("base") < (std::int64_t{1} << 53));
  CHECK(SyntheticProjectId("base") == 8129358041760376);
}

TEST_CASE("Name checks reject path tricks", "[http]") {
  CHECK(CheckRepository("base/busybox"));
  CHECK(CheckRepository("a/b/c-d__e.f"));
  CHECK_FALSE(CheckRepository("../v2"));
  CHECK_FALSE(CheckRepository("Base/x"));
  CHECK_FALSE(CheckRepository("a//b"));
  CHECK(CheckReference("v1.0"));
  CHECK(CheckReference("sha256:" + std::string(64, 'a')));
  CHECK_FALSE(CheckReference("v1/../x"));
  CHECK_FALSE(CheckTag(".hidden"));
}

TEST_CASE("The client keeps a connection alive and sends what it is given", "[http]") {
  FakeHttpServer server([](const RecordedRequest& r) {
    return FakeResponse{200, {{"X-Echo", r.target}}, "body of " + r.target};
  });
  auto client = Client();
  for (int i = 0; i < 3; ++i) {
    auto response = client->Send(Get(server.Url() + "/x?i=" + std::to_string(i)));
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->body == "body of /x?i=" + std::to_string(i));
    CHECK(response->Header("x-echo") == "/x?i=" + std::to_string(i));
  }
  CHECK(server.Connections() == 1);
  auto head = client->Send(Get(server.Url() + "/h", "HEAD"));
  REQUIRE(head);
  CHECK(head->body.empty());
  CHECK(server.Connections() == 1);
}

TEST_CASE("GET is retried on 5xx, POST is not", "[http]") {
  int calls = 0;
  FakeHttpServer server([&](const RecordedRequest&) {
    return FakeResponse{++calls < 3 ? 503 : 200, {}, "x"};
  });
  auto client = Client(2);
  auto response = client->Send(Get(server.Url() + "/retry"));
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(server.Requests().size() == 3);

  calls = 0;
  auto post = client->Send(Get(server.Url() + "/post", "POST"));
  REQUIRE(post);
  CHECK(post->status == 503);
  CHECK(server.Requests().size() == 4);
}

TEST_CASE("A refused connection is an upstream failure naming the address", "[http]") {
  const int port = testing::FreeLoopbackPort();
  auto client = Client(1);
  auto response = client->Send(Get("http://127.0.0.1:" + std::to_string(port) + "/"));
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::kUpstreamFailed);
  CHECK(response.error().message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
}

TEST_CASE("A slow answer times out and is not retried", "[http]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{200, {}, "late", std::chrono::milliseconds(10000)};
  });
  auto client = Client(2);
  auto response = client->Send(Get(server.Url() + "/slow"));
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::kUpstreamTimeout);
  CHECK(response.error().message.find("1000 ms") != std::string::npos);
  CHECK(server.Requests().size() == 1);
}

TEST_CASE("A request's timeout overrides the client's", "[http]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{200, {}, "late", std::chrono::milliseconds(5000)};
  });
  auto client = Client(0);
  auto request = Get(server.Url() + "/slow", "POST");
  request.timeout = std::chrono::milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  auto response = client->Send(request);
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::kUpstreamTimeout);
  CHECK(response.error().message.find("200 ms") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(900));
}

TEST_CASE("The User-Agent is the client's unless the request gives one", "[http]") {
  FakeHttpServer server([](const RecordedRequest&) { return FakeResponse{204, {}, ""}; });
  HttpClientOptions options;
  options.user_agent = "ImageMarket-Test/1";
  auto client = std::move(*HttpClient::Create(options));
  REQUIRE(client->Send(Get(server.Url() + "/a")));
  auto own = Get(server.Url() + "/b");
  own.headers.push_back({"User-Agent", "caller/2"});
  REQUIRE(client->Send(own));
  const auto requests = server.Requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].Header("user-agent") == "ImageMarket-Test/1");
  CHECK(requests[1].Header("user-agent") == "caller/2");
}

// Destinations ---------------------------------------------------------------------------------

TEST_CASE("With destinations set, loopback is refused before any connection", "[http][ssrf]") {
  FakeHttpServer server([](const RecordedRequest&) { return FakeResponse{200, {}, "reached"}; });
  auto client = VettingClient();

  auto response = client->Send(Get(server.Url() + "/"));
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::kForbidden);
  CHECK(response.error().message == "127.0.0.1 refused: 127.0.0.1 is a loopback address");

  auto named = client->Send(Get("http://localhost:" + Port(server) + "/"));
  REQUIRE_FALSE(named);
  CHECK(named.error().code == Errc::kForbidden);
  CHECK(named.error().message.starts_with("localhost refused: "));
  CHECK(named.error().message.find("is a loopback address") != std::string::npos);

  auto checked = client->CheckDestination(*ParseUrl("http://localhost/"));
  REQUIRE_FALSE(checked);
  CHECK(checked.error().code == Errc::kForbidden);
  CHECK_FALSE(Contacted(server));
}

TEST_CASE("Every spelling of a loopback or unspecified address is checked as what it resolves to",
          "[http][ssrf]") {
  FakeHttpServer server([](const RecordedRequest&) { return FakeResponse{200, {}, "reached"}; });
  // Forms the resolver reads as IPv4 (inet_aton: one number, octal, hex, short forms) and an
  // IPv4-mapped IPv6 literal. Allowed, each reaches the server: they are loopback indeed.
  const auto [host, address] = GENERATE(table<std::string, std::string>({
      {"2130706433", "127.0.0.1"},
      {"0177.0.0.1", "127.0.0.1"},
      {"0x7f.1", "127.0.0.1"},
      {"127.1", "127.0.0.1"},
      {"[::ffff:127.0.0.1]", "127.0.0.1"},
      {"0.0.0.0", "0.0.0.0"},
      {"0", "0.0.0.0"},
  }));
  CAPTURE(host);
  const std::string url = "http://" + host + ":" + Port(server) + "/";

  auto refused = VettingClient()->Send(Get(url));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kForbidden);
  const std::string why =
      address == "0.0.0.0" ? " is an unspecified address" : " is a loopback address";
  CHECK(refused.error().message.find(address + why) != std::string::npos);
  CHECK_FALSE(Contacted(server));

  auto allowed = VettingClient("127.0.0.0/8, 0.0.0.0/8")->Send(Get(url));
  REQUIRE(allowed);
  CHECK(allowed->body == "reached");
}

TEST_CASE("The unspecified IPv6 address is refused", "[http][ssrf]") {
  auto response = VettingClient()->Send(Get("http://[::]:9/"));
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::kForbidden);
  CHECK(response.error().message == ":: refused: :: is an unspecified address");
}

TEST_CASE("An allowed network goes through, and a redirect is an answer, not followed",
          "[http][ssrf]") {
  FakeHttpServer server([](const RecordedRequest& r) {
    if (r.target == "/start") return FakeResponse{302, {{"Location", "/elsewhere"}}, ""};
    return FakeResponse{200, {}, "elsewhere"};
  });
  auto client = VettingClient("127.0.0.0/8");
  auto response = client->Send(Get(server.Url() + "/start"));
  REQUIRE(response);
  CHECK(response->status == 302);
  CHECK(response->Header("location") == "/elsewhere");
  REQUIRE(server.Requests().size() == 1);
  CHECK(server.Requests()[0].target == "/start");
}

TEST_CASE("A vetting client never uses an unvetted client's connections", "[http][ssrf]") {
  FakeHttpServer server([](const RecordedRequest&) { return FakeResponse{200, {}, "ok"}; });
  auto open = Client();
  REQUIRE(open->Send(Get(server.Url() + "/")));
  REQUIRE(server.Connections() == 1);  // and now kept alive by `open`

  auto vetting = VettingClient();
  auto refused = vetting->Send(Get(server.Url() + "/"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kForbidden);
  CHECK(server.Requests().size() == 1);
  REQUIRE(open->Send(Get(server.Url() + "/")));
  CHECK(server.Connections() == 1);
}

// Body bounds ----------------------------------------------------------------------------------

std::unique_ptr<HttpClient> BoundedClient(bool truncate) {
  HttpClientOptions options;
  options.request_timeout = std::chrono::milliseconds(3000);
  options.max_retries = 0;
  options.max_body_bytes = 4096;
  options.truncate_long_bodies = truncate;
  return std::move(*HttpClient::Create(options));
}

TEST_CASE("A long body is cut to max_body_bytes and its connection not reused", "[http][body]") {
  std::string big(1024 * 1024, 'a');
  for (std::size_t i = 0; i < big.size(); i += 100) big[i] = static_cast<char>('0' + i % 10);
  FakeHttpServer server([&](const RecordedRequest& r) {
    return FakeResponse{
        r.target == "/big" ? 500 : 200, {{"X-Kept", "yes"}}, r.target == "/big" ? big : "small"};
  });
  auto client = BoundedClient(true);
  auto response = client->Send(Get(server.Url() + "/big", "POST"));
  REQUIRE(response);
  CHECK(response->status == 500);
  CHECK(response->Header("x-kept") == "yes");
  CHECK(response->truncated);
  CHECK(response->body == big.substr(0, 4096));

  auto next = client->Send(Get(server.Url() + "/small"));
  REQUIRE(next);
  CHECK(next->body == "small");
  CHECK_FALSE(next->truncated);
  CHECK(server.Connections() == 2);
}

TEST_CASE("A body exactly max_body_bytes long is whole", "[http][body]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{200, {}, std::string(4096, 'b')};
  });
  auto response = BoundedClient(true)->Send(Get(server.Url() + "/"));
  REQUIRE(response);
  CHECK(response->body.size() == 4096);
  CHECK_FALSE(response->truncated);
}

TEST_CASE("An endless body is cut without reading it to the end", "[http][body]") {
  SECTION("until the connection closes") {
    StreamingServer server("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", 0);
    const auto start = std::chrono::steady_clock::now();
    auto response = BoundedClient(true)->Send(Get(server.Url()));
    REQUIRE(response);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000));
    CHECK(response->status == 200);
    CHECK(response->body == std::string(4096, 'x'));
    CHECK(response->truncated);
  }
  SECTION("a Content-Length of 2^60 is not believed (nothing of that size is reserved)") {
    StreamingServer server("HTTP/1.1 200 OK\r\nContent-Length: 1152921504606846976\r\n\r\n",
                           64 * 1024);
    auto response = BoundedClient(true)->Send(Get(server.Url()));
    REQUIRE(response);
    CHECK(response->body.size() == 4096);
    CHECK(response->truncated);
  }
  SECTION("chunked") {
    // One chunk header announcing 1 GiB, then its bytes as the server can send them.
    StreamingServer server("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n",
                           0);
    auto response = BoundedClient(true)->Send(Get(server.Url()));
    REQUIRE(response);
    CHECK(response->status == 201);
    CHECK(response->body == std::string(4096, 'x'));
  }
}

TEST_CASE("Without truncate_long_bodies a long body fails the call", "[http][body]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{200, {}, std::string(5000, 'c')};
  });
  auto response = BoundedClient(false)->Send(Get(server.Url() + "/"));
  REQUIRE_FALSE(response);
  CHECK(response.error().code == Errc::kUpstreamFailed);
  CHECK(response.error().message.find("longer than 4096 bytes") != std::string::npos);
}

}  // namespace
}  // namespace market::harbor
