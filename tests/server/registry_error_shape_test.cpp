// The tag delete (DELETE /repositories, and the seed's POST with method=DELETE) answers every
// outcome in the seed's {code, msg} shape with the code's HTTP status: its own errors, the
// registry's, and the refusals of authentication, roles, limits, Host and Origin checks.
// The registry's other routes keep the envelope for their errors.

#include <catch2/catch.hpp>

#include <sodium.h>

#include "auth.hpp"
#include "harbor_client/registry_process.hpp"
#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;
using Headers = std::map<std::string, std::string>;

const AuditActor kSetup{"test-setup", "", ""};
const TimePoint kT0{std::chrono::milliseconds{1'790'000'000'000}};

// {code, msg} and nothing else, with `code` and `status`.
void CheckSeedError(const Reply& reply, int code, unsigned status) {
  INFO("HTTP " << reply.status << " " << reply.body);
  CHECK(reply.status == status);
  json body = json::parse(reply.body, nullptr, false);
  REQUIRE(body.is_object());
  CHECK(body.size() == 2);
  CHECK(body["code"] == code);
  REQUIRE(body["msg"].is_string());
  CHECK_FALSE(body["msg"].get<std::string>().empty());
}

Reply DeleteTag(TestClient& client, const json& body, const Headers& headers = {}) {
  return client.Request(http::verb::delete_, "/repositories", body.dump(), "application/json",
                        headers);
}

Reply PostDelete(TestClient& client, const std::string& form, const Headers& headers = {}) {
  return client.Request(http::verb::post, "/repositories", form,
                        "application/x-www-form-urlencoded", headers);
}

void UseRegistry(ServerConfig& config, const market::testing::RegistryProcess& registry) {
  config.registry_url = registry.Url();
  config.registry_kind = "distribution";
  config.registry_insecure = true;
}

}  // namespace

TEST_CASE("the tag delete's own and the registry's errors are {code, msg}", "[registry][api]") {
  {
    TestServer bare;  // no registry
    TestClient client(bare.port());
    CheckSeedError(DeleteTag(client, {{"repoName", "v1"}, {"projectName", "a/b"}}), 10013, 503);
    CheckSeedError(PostDelete(client, "method=DELETE&repoName=v1&projectName=a/b"), 10013, 503);
    // The other registry routes keep the envelope.
    Reply listing = client.Get("/projects");
    CHECK(listing.status == 503);
    CHECK(listing.Json().contains("errMsg"));
  }

  market::testing::RegistryProcess registry(market::testing::RegistryProcess::Options{});
  market::testing::PushTestImage(registry.Url(), "lib/app", {"v1", "same"}, "one");
  market::testing::PushTestImage(registry.Url(), "lib/app", {"v2"}, "two");
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    UseRegistry(config, registry);
    config.max_body_bytes = 4096;
  });
  TestClient client(server.port());

  CheckSeedError(DeleteTag(client, {{"projectName", "lib/app"}}), 10006, 400);  // no repoName
  CheckSeedError(DeleteTag(client, {{"repoName", "v1"}}), 10006, 400);         // no projectName
  CheckSeedError(client.Request(http::verb::delete_, "/repositories", "{", "application/json"),
                 10006, 400);
  CheckSeedError(PostDelete(client, "repoName=v1&projectName=lib/app"), 10006, 400);  // no method
  CheckSeedError(DeleteTag(client, {{"repoName", "v1"}, {"projectName", "lib/app"},
                                    {"force", "maybe"}}),
                 10006, 400);
  CheckSeedError(DeleteTag(client, {{"repoName", "nosuch"}, {"projectName", "lib/app"}}), 10008,
                 404);
  // v1 and `same` share a digest.
  CheckSeedError(DeleteTag(client, {{"repoName", "v1"}, {"projectName", "lib/app"}}), 10016, 409);
  // A body over the limit, before any handler (the server then closes the connection).
  TestClient oversized(server.port());
  CheckSeedError(oversized.Request(http::verb::delete_, "/repositories", std::string(8192, 'x'),
                                   "application/json"),
                 10006, 413);

  // Success is the seed's {code: 0, msg: ""}.
  Reply deleted = PostDelete(client, "method=DELETE&repoName=v2&projectName=lib/app");
  CHECK(deleted.status == 200);
  CHECK(deleted.Json() == json{{"code", 0}, {"msg", ""}});
}

TEST_CASE("refusals before the tag delete's handler are {code, msg} too", "[registry][auth]") {
  market::testing::RegistryProcess registry(market::testing::RegistryProcess::Options{});
  TestServer server(
      market::testing::Backend::kSqlite,
      [&](ServerConfig& config) {
        UseRegistry(config, registry);
        config.auth = true;
        config.auth_cache_ttl = std::chrono::seconds(0);
        config.rate_limit = 0.01;  // a burst, then nothing for the test's length
        config.rate_limit_burst = 3;
      },
      [](Stores& stores) {
        auto hash = HashPassword("vera-pass-123");
        REQUIRE(hash);
        REQUIRE(stores.identity->AddUser("vera", Role::kViewer, *hash, kSetup, kT0));
      });
  TestClient client(server.port());
  const json body = {{"repoName", "v1"}, {"projectName", "lib/app"}};

  Reply anonymous = DeleteTag(client, body);
  CheckSeedError(anonymous, 10018, 401);
  CHECK_FALSE(anonymous.Header("www-authenticate").empty());
  const Headers viewer = {{"Authorization", BasicAuthorization("vera", "vera-pass-123")}};
  CheckSeedError(DeleteTag(client, body, viewer), 10019, 403);  // the admin role is needed
  CheckSeedError(PostDelete(client, "method=DELETE&repoName=v1&projectName=lib/app",
                            {{"Origin", "https://evil.example"}}),
                 10019, 403);
  CheckSeedError(DeleteTag(client, body, {{"Host", "evil.example"}}), 10019, 421);
  // Past the rate limit (a burst of 3).
  Reply limited;
  for (int i = 0; i < 10 && limited.status != 429; ++i) limited = DeleteTag(client, body, viewer);
  CheckSeedError(limited, 10020, 429);
  CHECK_FALSE(limited.Header("retry-after").empty());
}

}  // namespace market::server::testing
