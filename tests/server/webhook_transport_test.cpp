// The webhooks' HTTP transport against real receivers on loopback: what it sends, what it
// keeps of the answer, and every way it refuses a destination.
#include "webhook_transport.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "harbor_client/fake_http_server.hpp"
#include "support/ports.hpp"

namespace market::server {
namespace {

using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::RecordedRequest;

std::unique_ptr<HttpWebhookTransport> Transport(std::string_view allow = "",
                                                std::string_view deny = "") {
  WebhookTransportOptions options;
  options.rules.allow = *ParseIpRanges("webhook-allow-networks", allow);
  options.rules.deny = *ParseIpRanges("build-deny-networks", deny);
  auto transport = HttpWebhookTransport::Create(std::move(options));
  REQUIRE(transport);
  return std::move(*transport);
}

WebhookPost Post(const std::string& url,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  WebhookPost post;
  post.url = url;
  post.headers = {{"Content-Type", "application/json"},
                  {"webhook-id", "msg_1"},
                  {"webhook-timestamp", "1700000000"},
                  {"webhook-signature", "v1,abc="}};
  post.body = R"({"type":"image.pushed","data":{"tag":"v1"}})";
  post.timeout = timeout;
  return post;
}

std::string Port(const FakeHttpServer& server) {
  const std::string url = server.Url();
  return url.substr(url.rfind(':') + 1);
}

bool Contacted(const FakeHttpServer& server) {
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return server.Connections() > 0;
}

std::string Header(const WebhookAnswer& answer, std::string_view name) {
  for (const auto& h : answer.headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

// The message when `url` is invalid, or "" when it is accepted.
std::string Check(HttpWebhookTransport& transport, std::string_view url) {
  auto checked = transport.CheckTarget(url);
  if (checked) return {};
  CHECK(checked.error().code == Errc::kInvalid);
  CHECK(checked.error().message.starts_with("url:"));
  return checked.error().message;
}

TEST_CASE("A POST reaches an allowed receiver with its body and headers intact", "[webhook]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{202, {{"X-Receiver", "seen"}}, "queued"};
  });
  const auto post = Post(server.Url() + "/hooks/in?team=a");
  auto answer = Transport("127.0.0.0/8")->Post(post);
  REQUIRE(answer);
  CHECK(answer->status == 202);
  CHECK(answer->body == "queued");
  CHECK(Header(*answer, "X-Receiver") == "seen");

  const auto requests = server.Requests();
  REQUIRE(requests.size() == 1);
  const auto& r = requests[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/hooks/in?team=a");
  CHECK(r.body == post.body);
  CHECK(r.Header("content-type") == "application/json");
  CHECK(r.Header("webhook-id") == "msg_1");
  CHECK(r.Header("webhook-timestamp") == "1700000000");
  CHECK(r.Header("webhook-signature") == "v1,abc=");
  CHECK(r.Header("content-length") == std::to_string(post.body.size()));
  CHECK(r.Header("user-agent") == "ImageMarket-Webhook/1");
}

TEST_CASE("A receiver's answer is cut to 4 KiB and its status kept", "[webhook]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{500, {}, std::string(100000, 'e')};
  });
  auto answer = Transport("127.0.0.0/8")->Post(Post(server.Url() + "/"));
  REQUIRE(answer);
  CHECK(answer->status == 500);
  CHECK(answer->body == std::string(HttpWebhookTransport::kMaxAnswerBytes, 'e'));
}

TEST_CASE("A redirect is the answer: it is not followed", "[webhook]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{307, {{"Location", "http://169.254.169.254/latest/meta-data/"}}, ""};
  });
  auto answer = Transport("127.0.0.0/8")->Post(Post(server.Url() + "/"));
  REQUIRE(answer);
  CHECK(answer->status == 307);
  CHECK(server.Requests().size() == 1);
}

TEST_CASE("Loopback is refused without the operator's allowance, before connecting",
          "[webhook][ssrf]") {
  FakeHttpServer server([](const RecordedRequest&) { return FakeResponse{200, {}, ""}; });
  auto transport = Transport();
  auto answer = transport->Post(Post(server.Url() + "/"));
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == Errc::kForbidden);
  CHECK(answer.error().message ==
        "webhook target 127.0.0.1 refused: 127.0.0.1 is a loopback address "
        "(webhook-allow-networks can allow it)");

  // The other spellings of loopback are what they resolve to.
  for (const std::string host :
       {"localhost", "2130706433", "0177.0.0.1", "0x7f.1", "[::ffff:127.0.0.1]"}) {
    CAPTURE(host);
    auto other = transport->Post(Post("http://" + host + ":" + Port(server) + "/"));
    REQUIRE_FALSE(other);
    CHECK(other.error().code == Errc::kForbidden);
    CHECK(other.error().message.find("127.0.0.1 is a loopback address") != std::string::npos);
  }
  for (const std::string host : {"0.0.0.0", "0", "[::]"}) {
    CAPTURE(host);
    auto other = transport->Post(Post("http://" + host + ":" + Port(server) + "/"));
    REQUIRE_FALSE(other);
    CHECK(other.error().code == Errc::kForbidden);
    CHECK(other.error().message.find("is an unspecified address") != std::string::npos);
  }
  CHECK_FALSE(Contacted(server));
}

TEST_CASE("Cloud metadata (link-local) is refused unless its network is allowed",
          "[webhook][ssrf]") {
  // Allowing other networks does not open link-local.
  auto refused = Transport("127.0.0.0/8, 10.0.0.0/8")->Post(Post("http://169.254.169.254/x"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kForbidden);
  CHECK(refused.error().message.find("169.254.169.254 is a link-local address") !=
        std::string::npos);

  // Allowed, it passes the check (checked without sending anything there).
  CHECK(Check(*Transport("169.254.0.0/16"), "http://169.254.169.254/x") == "");
}

TEST_CASE("A receiver that never answers times out after the post's timeout", "[webhook]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return FakeResponse{200, {}, "late", std::chrono::milliseconds(10000)};
  });
  const auto start = std::chrono::steady_clock::now();
  auto answer =
      Transport("127.0.0.0/8")->Post(Post(server.Url() + "/", std::chrono::milliseconds(500)));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == Errc::kUpstreamTimeout);
  CHECK(elapsed >= std::chrono::milliseconds(450));
  CHECK(elapsed < std::chrono::milliseconds(2000));
  CHECK(server.Requests().size() == 1);  // one attempt: the service retries
}

TEST_CASE("A port nobody listens on is an upstream failure", "[webhook]") {
  const int port = testing::FreeLoopbackPort();
  auto answer =
      Transport("127.0.0.0/8")->Post(Post("http://127.0.0.1:" + std::to_string(port) + "/"));
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == Errc::kUpstreamFailed);
}

TEST_CASE("A stored URL that no longer parses is an upstream failure", "[webhook]") {
  auto answer = Transport()->Post(Post("ftp://example.com/"));
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code == Errc::kUpstreamFailed);
  CHECK(answer.error().message.starts_with("url:"));
}

// CheckTarget ----------------------------------------------------------------------------------

TEST_CASE("CheckTarget wants an absolute http(s) URL without user info or fragment", "[webhook]") {
  auto transport = Transport();
  CHECK(Check(*transport, "ftp://example.com/hook").find("http or https") != std::string::npos);
  CHECK(Check(*transport, "example.com/hook") != "");
  CHECK(Check(*transport, "/hook") != "");
  CHECK(Check(*transport, "https://user:secret@example.com/").find("user info") !=
        std::string::npos);
  CHECK(Check(*transport, "https://example.com/hook#part").find("fragment") != std::string::npos);
  CHECK(Check(*transport, "https://192.0.2.10:8443/hook") == "");
}

TEST_CASE("CheckTarget refuses addresses the rules refuse, in any spelling", "[webhook][ssrf]") {
  auto transport = Transport();
  CHECK(Check(*transport, "http://127.0.0.1:8080/") ==
        "url: webhook target 127.0.0.1 refused: 127.0.0.1 is a loopback address "
        "(webhook-allow-networks can allow it)");
  CHECK(Check(*transport, "http://[::1]/").find("::1 is a loopback address") != std::string::npos);
  CHECK(Check(*transport, "http://localhost/").find("is a loopback address") != std::string::npos);
  for (const std::string url : {"http://[::ffff:127.0.0.1]/", "http://2130706433/",
                                "http://0177.0.0.1/", "http://0x7f000001/"}) {
    CAPTURE(url);
    CHECK(Check(*transport, url).find("127.0.0.1 is a loopback address") != std::string::npos);
  }
  for (const std::string url : {"http://0.0.0.0/", "http://0/", "http://[::]/"}) {
    CAPTURE(url);
    CHECK(Check(*transport, url).find("is an unspecified address") != std::string::npos);
  }
  CHECK(Check(*transport, "http://169.254.169.254/latest/meta-data/")
            .find("169.254.169.254 is a link-local address") != std::string::npos);
  CHECK(Check(*transport, "http://[fe80::1]/").find("is a link-local address") !=
        std::string::npos);

  // Allowed networks pass.
  CHECK(Check(*Transport("127.0.0.0/8"), "http://127.0.0.1:8080/") == "");
}

TEST_CASE("CheckTarget refuses this host's own addresses", "[webhook][ssrf]") {
  auto transport = Transport();
  int checked = 0;
  for (const IpRange& address : HostAddresses()) {
    const auto& denied = AlwaysDeniedRanges();
    if (std::any_of(denied.begin(), denied.end(),
                    [&](const IpRange& r) { return r.Contains(address); })) {
      continue;
    }
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(address.v6 ? AF_INET6 : AF_INET, address.bytes.data(), text, sizeof text);
    const std::string host = address.v6 ? "[" + std::string(text) + "]" : text;
    CAPTURE(host);
    CHECK(Check(*transport, "https://" + host + "/hook").find("is an address of this host") !=
          std::string::npos);
    ++checked;
  }
  if (checked == 0) WARN("this host has no address besides loopback and link-local");
}

TEST_CASE("CheckTarget applies the operator's deny list, and allow wins over it",
          "[webhook][ssrf]") {
  CHECK(Check(*Transport(), "http://10.1.2.3/hook") == "");
  CHECK(Check(*Transport("", "10.0.0.0/8"), "http://10.1.2.3/hook")
            .find("10.1.2.3 is in a denied network (10.0.0.0/8)") != std::string::npos);
  CHECK(Check(*Transport("10.1.0.0/16", "10.0.0.0/8"), "http://10.1.2.3/hook") == "");
}

TEST_CASE("CheckTarget accepts a name that does not resolve now", "[webhook]") {
  // .invalid never resolves (RFC 6761); each send checks the name again.
  CHECK(Check(*Transport(), "https://hooks.example.invalid/in") == "");
}

}  // namespace
}  // namespace market::server
