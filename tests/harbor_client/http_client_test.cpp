// The HTTP client and the helpers both registry kinds share.
#include "market/harbor_client/http_client.hpp"

#include <catch2/catch.hpp>

#include "distribution_registry.hpp"
#include "harbor_client/fake_http_server.hpp"
#include "harbor_client/registry_process.hpp"
#include "harbor_registry.hpp"
#include "registry_http.hpp"

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

}  // namespace
}  // namespace market::harbor
