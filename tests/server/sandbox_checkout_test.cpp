// The checkout rules as a user meets them at save: overlapping checkoutAs spellings and ssh
// sources are 10006 naming the attribute; ssh-sources on lets an ssh source be saved.

#include <catch2/catch.hpp>

#include "server_harness.hpp"

namespace market::server::testing {
namespace {

using json = nlohmann::json;

json Source(const std::string& url, const std::string& checkout_as) {
  return {{"$$plugin", "download_executable_source"},
          {"source_type", "git"},
          {"source_url", url},
          {"checkoutAs", checkout_as},
          {"containerPath", "/opt/" + std::to_string(checkout_as.size())}};
}

Reply Save(TestClient& client, const json& sources) {
  json pipeline = json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                                {"handleInput", "127.0.0.1:5000/base/busybox:1"}}});
  for (const json& s : sources) pipeline.push_back(s);
  return client.PostJson("/api/project/save", {{"project", "web"},
                                               {"DefineDockerFileType", "tool"},
                                               {"addOrUpdate", "add"},
                                               {"operator", "alice"},
                                               {"$$plugin", pipeline}});
}

std::string Message(const Reply& reply) { return reply.Json()["errMsg"].get<std::string>(); }

TEST_CASE("save: checkoutAs folders that overlap however spelled are 10006", "[api][sandbox]") {
  TestServer server;
  TestClient client(server.port());
  const std::string url = "https://git.example.com/a.git";
  for (const char* second : {"a/sub", "a//sub", "a/sub/", "a/sub/x", "a"}) {
    INFO(second);
    Reply reply = Save(client, json::array({Source(url, "a"), Source(url, second)}));
    INFO(reply.body);
    CHECK(reply.status == 400);
    CHECK(reply.Code() == 10006);
    CHECK_THAT(Message(reply), Catch::StartsWith("download_executable_source.checkoutAs: "));
    CHECK_THAT(Message(reply), Catch::Contains("two checkouts may not share a folder or nest"));
  }
  for (const char* dotted : {"./a/sub", "a/./sub", "a/."}) {
    INFO(dotted);
    Reply reply = Save(client, json::array({Source(url, "a"), Source(url, dotted)}));
    CHECK(reply.Code() == 10006);
    CHECK_THAT(Message(reply), Catch::StartsWith("download_executable_source.checkoutAs: "));
  }
  Reply fine = Save(client, json::array({Source(url, "a"), Source(url, "b//c/")}));
  INFO(fine.body);
  CHECK(fine.Code() == 10000);
}

TEST_CASE("save: an ssh source is 10006 unless ssh-sources is on", "[api][sandbox]") {
  const json ssh = json::array({Source("git@git.example.com:team/app.git", "src")});
  {
    TestServer server;
    TestClient client(server.port());
    Reply reply = Save(client, ssh);
    INFO(reply.body);
    CHECK(reply.Code() == 10006);
    CHECK_THAT(Message(reply), Catch::StartsWith("download_executable_source.source_url: "));
    CHECK_THAT(Message(reply), Catch::Contains("ssh sources are disabled (ssh-sources)"));
  }
  market::testing::TempDir dir;
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    config.ssh_sources = true;
    config.ssh_known_hosts_file = (dir.path() / "known_hosts").string();
  });
  TestClient client(server.port());
  Reply reply = Save(client, ssh);
  INFO(reply.body);
  CHECK(reply.Code() == 10000);
}

}  // namespace
}  // namespace market::server::testing
