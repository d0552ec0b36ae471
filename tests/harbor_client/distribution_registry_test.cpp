// DistributionRegistry against real docker-registry processes on loopback.
#include "distribution_registry.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

#include "harbor_client/registry_process.hpp"
#include "market/harbor_client/registry_factory.hpp"

namespace market::harbor {
namespace {

using testing::PushTestImage;
using testing::RegistryProcess;

RegistryProcess::Options With(void (*change)(RegistryProcess::Options&)) {
  RegistryProcess::Options options;
  change(options);
  return options;
}

// One process of each kind per test run; tests use distinct repository names.
RegistryProcess& OpenRegistry() {
  static RegistryProcess process(RegistryProcess::Options{});
  return process;
}
RegistryProcess& AuthRegistry() {
  static RegistryProcess process(With([](RegistryProcess::Options& o) {
    o.user = "alice";
    o.password = "wonder-land-7";
  }));
  return process;
}
RegistryProcess& NoDeleteRegistry() {
  static RegistryProcess process(With([](RegistryProcess::Options& o) { o.deletes = false; }));
  return process;
}

RegistryPtr Connect(const std::string& url, RegistryCredentials credentials = {},
                    std::string ca_file = "", bool insecure = true) {
  RegistryConfig config;
  config.url = url;
  config.kind = RegistryKind::kDistribution;
  config.insecure = insecure;
  config.ca_file = std::move(ca_file);
  config.credentials = std::move(credentials);
  config.connect_timeout = std::chrono::milliseconds(1000);
  config.request_timeout = std::chrono::milliseconds(5000);
  auto registry = MakeRegistry(config);
  REQUIRE(registry);
  return std::move(*registry);
}

std::vector<std::string> TagNames(Registry& registry, const std::string& repository) {
  auto tags = registry.ListTags(repository, {1, 100});
  REQUIRE(tags);
  std::vector<std::string> names;
  for (const auto& t : tags->items) names.push_back(t.name);
  return names;
}

TEST_CASE("Distribution: ping, projects synthesized from the catalog", "[distribution]") {
  auto& process = OpenRegistry();
  PushTestImage(process.Url(), "alphaone/web", {"1"}, "alphaone-web");
  PushTestImage(process.Url(), "alphaone/api", {"1"}, "alphaone-api");
  PushTestImage(process.Url(), "alphatwo/tools/cli", {"1"}, "alphatwo-cli");
  PushTestImage(process.Url(), "toplevel", {"1"}, "toplevel");
  auto registry = Connect(process.Url());
  REQUIRE(registry->Ping());
  REQUIRE(registry->EnsureProject("anything"));

  auto all = registry->ListProjects("", {1, 10});
  REQUIRE(all);
  std::vector<std::string> names;
  for (const auto& p : all->items) names.push_back(p.name);
  CHECK(std::find(names.begin(), names.end(), "toplevel") == names.end());
  CHECK(std::is_sorted(names.begin(), names.end()));
  auto alphaone = std::find_if(all->items.begin(), all->items.end(),
                               [](const RegistryProject& p) { return p.name == "alphaone"; });
  REQUIRE(alphaone != all->items.end());
  CHECK(alphaone->repo_count == 2);
  CHECK(alphaone->project_id == SyntheticProjectId("alphaone"));

  auto filtered = registry->ListProjects("alphatwo", {1, 10});
  REQUIRE(filtered);
  REQUIRE(filtered->items.size() == 1);
  CHECK(filtered->items[0].name == "alphatwo");
  CHECK(filtered->total_count == 1);

  auto paged = registry->ListProjects("alpha", {2, 1});
  REQUIRE(paged);
  CHECK(paged->total_count == 2);
  REQUIRE(paged->items.size() == 1);
  CHECK(paged->items[0].name == "alphatwo");

  CHECK(registry->ListProjects("", {0, 10}).error().code == Errc::kInvalid);
}

TEST_CASE("Distribution: repositories of a project by id, with a query", "[distribution]") {
  auto& process = OpenRegistry();
  PushTestImage(process.Url(), "repoproj/frontend", {"1"}, "rp-frontend");
  PushTestImage(process.Url(), "repoproj/backend", {"1"}, "rp-backend");
  auto registry = Connect(process.Url());
  const auto id = SyntheticProjectId("repoproj");

  auto all = registry->ListRepositories(id, "", {1, 10});
  REQUIRE(all);
  REQUIRE(all->items.size() == 2);
  CHECK(all->items[0].name == "repoproj/backend");
  CHECK(all->items[1].name == "repoproj/frontend");

  auto queried = registry->ListRepositories(id, "front", {1, 10});
  REQUIRE(queried);
  REQUIRE(queried->items.size() == 1);
  CHECK(queried->items[0].name == "repoproj/frontend");

  auto missing = registry->ListRepositories(12345, "", {1, 10});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(missing.error().message.find("12345") != std::string::npos);
}

TEST_CASE("Distribution: tags with digest, size and created, manifests", "[distribution]") {
  auto& process = OpenRegistry();
  auto v1 = PushTestImage(process.Url(), "tagproj/app", {"1.0", "latest"}, "app-1",
                          "2024-05-06T07:08:09.5Z");
  auto v2 = PushTestImage(process.Url(), "tagproj/app", {"2.0"}, "app-2", "2025-01-02T03:04:05Z");
  auto registry = Connect(process.Url());

  auto tags = registry->ListTags("tagproj/app", {1, 2});
  REQUIRE(tags);
  CHECK(tags->total_count == 3);
  REQUIRE(tags->items.size() == 2);
  CHECK(tags->items[0].name == "1.0");
  CHECK(tags->items[0].digest == v1.digest);
  CHECK(tags->items[0].size == v1.size);
  REQUIRE(tags->items[0].created);
  CHECK(FormatIso8601(*tags->items[0].created) == "2024-05-06T07:08:09.500Z");
  CHECK(tags->items[1].name == "2.0");
  CHECK(tags->items[1].digest == v2.digest);

  auto page2 = registry->ListTags("tagproj/app", {2, 2});
  REQUIRE(page2);
  REQUIRE(page2->items.size() == 1);
  CHECK(page2->items[0].name == "latest");

  auto manifest = registry->GetManifest("tagproj/app", "2.0");
  REQUIRE(manifest);
  CHECK(manifest->manifest_json == v2.manifest);
  CHECK(manifest->config_json == v2.config);
  CHECK(manifest->digest == v2.digest);
  CHECK(manifest->media_type == "application/vnd.oci.image.manifest.v1+json");

  auto by_digest = registry->GetManifest("tagproj/app", v1.digest);
  REQUIRE(by_digest);
  CHECK(by_digest->config_json == v1.config);

  const auto index_digest = testing::PushTestIndex(process.Url(), "tagproj/app", "multi", v1);
  auto index = registry->GetManifest("tagproj/app", "multi");
  REQUIRE(index);
  CHECK(index->media_type == "application/vnd.oci.image.index.v1+json");
  CHECK(index->digest == index_digest);
  CHECK(index->config_json.empty());

  auto no_tag = registry->GetManifest("tagproj/app", "9.9");
  REQUIRE_FALSE(no_tag);
  CHECK(no_tag.error().code == Errc::kNotFound);
  CHECK(no_tag.error().message.find("tagproj/app:9.9") != std::string::npos);

  auto no_repo = registry->ListTags("tagproj/nothing", {1, 10});
  REQUIRE_FALSE(no_repo);
  CHECK(no_repo.error().code == Errc::kNotFound);
  CHECK(no_repo.error().message.find("tagproj/nothing") != std::string::npos);

  CHECK(registry->GetManifest("../etc", "1").error().code == Errc::kInvalid);
  CHECK(registry->GetManifest("tagproj/app", "a/../b").error().code == Errc::kInvalid);
}

TEST_CASE("Distribution: deleting a manifest by digest takes all its tags", "[distribution]") {
  auto& process = OpenRegistry();
  PushTestImage(process.Url(), "digestproj/app", {"a", "b"}, "shared by a and b");
  PushTestImage(process.Url(), "digestproj/app", {"c"}, "c alone");
  auto registry = Connect(process.Url());
  const std::string digest = registry->GetManifest("digestproj/app", "a").value().digest;

  REQUIRE(registry->DeleteManifest("digestproj/app", digest));
  CHECK(TagNames(*registry, "digestproj/app") == std::vector<std::string>{"c"});
  auto again = registry->DeleteManifest("digestproj/app", digest);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::kNotFound);
  auto bad = registry->DeleteManifest("digestproj/app", "latest");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::kInvalid);
  // A plain registry keeps no push time.
  auto tags = registry->ListTags("digestproj/app", {1, 10});
  REQUIRE(tags);
  REQUIRE(tags->items.size() == 1);
  CHECK_FALSE(tags->items[0].pushed);
}

TEST_CASE("Distribution: deleting a tag shared with others needs force", "[distribution]") {
  auto& process = OpenRegistry();
  PushTestImage(process.Url(), "delproj/app", {"a", "b"}, "shared");
  PushTestImage(process.Url(), "delproj/app", {"c"}, "single");
  auto registry = Connect(process.Url());

  auto refused = registry->DeleteTag("delproj/app", "a", false);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kTagShared);
  CHECK(refused.error().message.find("tag(s) b") != std::string::npos);
  CHECK(TagNames(*registry, "delproj/app") == std::vector<std::string>{"a", "b", "c"});

  REQUIRE(registry->DeleteTag("delproj/app", "c", false));
  CHECK(TagNames(*registry, "delproj/app") == std::vector<std::string>{"a", "b"});

  REQUIRE(registry->DeleteTag("delproj/app", "a", true));
  CHECK(TagNames(*registry, "delproj/app").empty());

  auto missing = registry->DeleteTag("delproj/app", "zzz", false);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
}

TEST_CASE("Distribution: deletes disabled is kRegistryUnsupported", "[distribution]") {
  auto& process = NoDeleteRegistry();
  PushTestImage(process.Url(), "nodel/app", {"1"}, "nodel");
  auto registry = Connect(process.Url());
  auto result = registry->DeleteTag("nodel/app", "1", false);
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::kRegistryUnsupported);
  CHECK(result.error().message.find("does not allow deletes") != std::string::npos);
  CHECK(TagNames(*registry, "nodel/app") == std::vector<std::string>{"1"});
}

TEST_CASE("Distribution: basic auth, and a clear error for wrong credentials", "[distribution]") {
  auto& process = AuthRegistry();
  auto image = PushTestImage(process.Url(), "authproj/app", {"1"}, "auth", "2024-01-01T00:00:00Z",
                             "alice", "wonder-land-7");
  auto good = Connect(process.Url(), {"alice", "wonder-land-7"});
  REQUIRE(good->Ping());
  auto projects = good->ListProjects("", {1, 10});
  REQUIRE(projects);
  REQUIRE(projects->items.size() == 1);
  CHECK(projects->items[0].name == "authproj");
  auto tags = good->ListTags("authproj/app", {1, 10});
  REQUIRE(tags);
  REQUIRE(tags->items.size() == 1);
  CHECK(tags->items[0].digest == image.digest);
  REQUIRE(good->GetManifest("authproj/app", "1"));

  auto bad = Connect(process.Url(), {"alice", "not-the-password"});
  auto denied = bad->ListProjects("", {1, 10});
  REQUIRE_FALSE(denied);
  CHECK(denied.error().code == Errc::kUpstreamFailed);
  CHECK(denied.error().message.find("rejected the credentials (401)") != std::string::npos);
  CHECK(denied.error().message.find("not-the-password") == std::string::npos);
  CHECK(bad->Ping().error().code == Errc::kUpstreamFailed);

  auto anonymous = Connect(process.Url());
  CHECK(anonymous->GetManifest("authproj/app", "1").error().message.find("(401)") !=
        std::string::npos);
}

TEST_CASE("Distribution: TLS verified with a CA file, refused without, or insecure",
          "[distribution][tls]") {
  RegistryProcess process(With([](RegistryProcess::Options& o) { o.tls = true; }));
  auto verified = Connect(process.Url(), {}, process.ca_file(), false);
  CHECK(verified->TlsVerify());
  REQUIRE(verified->Ping());

  auto unverified = Connect(process.Url(), {}, "", false);
  auto refused = unverified->Ping();
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kUpstreamFailed);
  CHECK(refused.error().message.find("certificate verify failed") != std::string::npos);

  auto insecure = Connect(process.Url(), {}, "", true);
  REQUIRE(insecure->Ping());
}

TEST_CASE("Distribution: an unreachable registry is an upstream failure", "[distribution]") {
  const int port = testing::FreeLoopbackPort();
  auto registry = Connect("http://127.0.0.1:" + std::to_string(port));
  auto result = registry->Ping();
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::kUpstreamFailed);
  CHECK(result.error().message.starts_with("registry: cannot connect to 127.0.0.1:"));
}

}  // namespace
}  // namespace market::harbor
