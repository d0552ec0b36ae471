// Immutability rules with the fake registry, builder and checkout on the real SQLite stores: the
// rules' input checks and audit, which rule protects a tag, and the refusals of the build queue
// (a person's build, a trigger's extra tags) and of the tag delete.

#include <catch2/catch.hpp>
#include <chrono>

#include "libmarket/build/build_world.hpp"
#include "market/immutability.hpp"
#include "market/registry_changes.hpp"
#include "market/testing/in_memory_audit_log.hpp"
#include "market/trigger_service.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;

PluginInstance Entry(std::string plugin, std::map<std::string, AttributeValue> attributes) {
  return PluginInstance{std::move(plugin), std::move(attributes)};
}

ImmutabilityRequest Rule(std::string repository, std::string pattern, bool enabled = true) {
  ImmutabilityRequest request;
  request.repository = std::move(repository);
  request.tag_pattern = std::move(pattern);
  request.enabled = enabled;
  return request;
}

struct Fixture : testing::BuildWorld {
  Fixture() {
    immutability = std::make_unique<ImmutabilityService>(*stores.immutability, clock, &audit);
    BuildDependencies deps = Dependencies();
    deps.tag_protection = immutability.get();
    builds = std::make_unique<BuildService>(deps, Options("immutability-test:1"));
    triggers =
        std::make_unique<TriggerService>(TriggerDependencies{.store = stores.triggers.get(),
                                                             .builds = builds.get(),
                                                             .build_store = stores.builds.get(),
                                                             .projects = stores.projects.get(),
                                                             .plugins = plugins.get(),
                                                             .clock = &clock},
                                         TriggerOptions{});
    InsertProject("web", {
        Entry("base_image_choose_from_harbor",
              {{"handleInput", std::string("registry.test:5000/base/busybox:1")}}),
        Entry("download_executable_source", {{"source_type", std::string("git")},
                                             {"source_url", std::string("https://git.test/a.git")},
                                             {"checkoutAs", std::string("app")},
                                             {"ref", std::string("main")},
                                             {"containerPath", std::string("/opt/app")}})});
  }

  ImmutabilityRule Add(const ImmutabilityRequest& request) {
    auto made = immutability->Create(request, "root");
    REQUIRE(made);
    return *made;
  }

  testing::InMemoryAuditLog audit;
  std::unique_ptr<ImmutabilityService> immutability;
  std::unique_ptr<BuildService> builds;
  std::unique_ptr<TriggerService> triggers;
};

}  // namespace

TEST_CASE("Bad rules are refused naming the field, and nothing is stored", "[immutability]") {
  Fixture f;
  const std::pair<ImmutabilityRequest, std::string> refusals[] = {
      {Rule("", ".*"), "repository is required"},
      {Rule("Team/*", ".*"), "repository contains special char: T"},
      {Rule("team/web?", ".*"), "repository contains special char: ?"},
      {Rule("team/***", ".*"), "repository has '***'"},
      {Rule(std::string(256, 'a'), ".*"), "repository is longer than 255 characters"},
      {Rule("team/*", ""), "tagPattern is required"},
      {Rule("team/*", "v[0-9"), "tagPattern is not a regular expression"},
      {Rule("team/*", std::string(257, 'v')), "tagPattern is longer than 256 characters"},
  };
  for (const auto& [request, message] : refusals) {
    auto made = f.immutability->Create(request, "root");
    REQUIRE_FALSE(made);
    CHECK(made.error().code == Errc::kInvalid);
    CHECK_THAT(made.error().message, Catch::StartsWith(message));
  }
  ImmutabilityRequest no_pattern;
  no_pattern.repository = "team/*";
  CHECK_THAT(f.immutability->Create(no_pattern, "root").error().message,
             Catch::StartsWith("tagPattern is required"));
  ImmutabilityRequest long_description = Rule("team/*", ".*");
  long_description.description = std::string(1025, 'd');
  CHECK_THAT(f.immutability->Create(long_description, "root").error().message,
             Catch::StartsWith("description is longer than 1024 characters"));
  CHECK(f.immutability->List()->empty());
  CHECK(f.audit.Entries().empty());

  // An update with a bad field changes nothing.
  ImmutabilityRule rule = f.Add(Rule("team/*", "v.*"));
  ImmutabilityRequest bad;
  bad.tag_pattern = "(";
  CHECK(f.immutability->Update(rule.id, bad, "root").error().code == Errc::kInvalid);
  CHECK(f.immutability->Get(rule.id).value() == rule);
  CHECK(f.immutability->Update(rule.id + 1, bad, "root").error().code == Errc::kNotFound);
}

TEST_CASE("Protecting answers the first enabled rule that matches, and changes are audited",
          "[immutability]") {
  Fixture f;
  ImmutabilityRule disabled = f.Add(Rule("team/*", ".*", /*enabled=*/false));
  ImmutabilityRule releases = f.Add(Rule("team/web", R"(v\d+(\.\d+)*)"));
  ImmutabilityRule everything = f.Add(Rule("**", "stable"));
  CHECK(f.immutability->Protecting("team/web", "v1.2")->value() == releases);
  CHECK_FALSE(f.immutability->Protecting("team/web", "v1.2-rc")->has_value());  // anchored
  CHECK_FALSE(f.immutability->Protecting("team/web", "dev")->has_value());      // rule 1 is off
  CHECK(f.immutability->Protecting("other/app", "stable")->value() == everything);
  CHECK_FALSE(f.immutability->Protecting("team/api", "v1")->has_value());

  ImmutabilityRequest enable;
  enable.enabled = true;
  enable.description = "freeze the team";
  auto enabled = f.immutability->Update(disabled.id, enable, "root");
  REQUIRE(enabled);
  CHECK(enabled->description == "freeze the team");
  CHECK(enabled->repository == "team/*");
  // The oldest enabled rule wins.
  CHECK(f.immutability->Protecting("team/web", "v1")->value().id == disabled.id);
  REQUIRE(f.immutability->Delete(disabled.id, "root"));
  CHECK(f.immutability->Delete(disabled.id, "root").error().code == Errc::kNotFound);
  CHECK(f.immutability->Protecting("team/web", "v1")->value().id == releases.id);

  auto entries = f.audit.Entries();
  REQUIRE(entries.size() == 5);
  CHECK(entries[0].action == "immutability.create");
  CHECK(entries[0].target == "immutability:" + std::to_string(disabled.id));
  CHECK(entries[0].before_json == "null");
  CHECK(entries[3].action == "immutability.update");
  CHECK_THAT(entries[3].after_json, Catch::Contains("freeze the team"));
  CHECK(entries[4].action == "immutability.delete");
  CHECK(entries[4].after_json == "null");
}

TEST_CASE("A build over an existing protected tag is refused when queued, a first push is not",
          "[immutability]") {
  Fixture f;
  ImmutabilityRule rule = f.Add(Rule("team/*", "v.*"));
  f.registry.AddTag("team/web", "v1", "sha256:aaaa");

  auto refused = f.builds->Enqueue("web", "v1", "bob", Role::kDeveloper);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kAlreadyExists);
  CHECK_THAT(refused.error().message,
             Catch::Contains("team/web:v1") &&
                 Catch::Contains("immutability rule " + std::to_string(rule.id)) &&
                 Catch::Contains("repository team/*") && Catch::Contains("tagPattern v.*"));
  CHECK(f.stores.builds->ListForProject("web", 1, 10)->builds.empty());

  CHECK(f.builds->Enqueue("web", "v2", "bob", Role::kDeveloper));   // not there yet
  CHECK(f.builds->Enqueue("web", "dev", "bob", Role::kDeveloper));  // not protected
  f.registry.AddTag("team/web", "dev", "sha256:bbbb");
  CHECK(f.builds->Enqueue("web", "dev", "bob", Role::kDeveloper));  // pushed over: allowed

  // The registry cannot tell whether the tag exists: not pushed over on a guess.
  f.registry.SetFailure(Error{Errc::kUpstreamFailed, "registry down"}, "GetManifest");
  auto unknown = f.builds->Enqueue("web", "v3", "bob", Role::kDeveloper);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::kUpstreamFailed);
  CHECK(f.builds->Enqueue("web", "dev", "bob", Role::kDeveloper));  // unprotected: not asked
}

TEST_CASE("A triggered build whose extra tag is protected and exists is refused",
          "[immutability]") {
  Fixture f;
  ImmutabilityRule rule = f.Add(Rule("team/web", "latest"));
  f.registry.AddTag("team/web", "latest", "sha256:aaaa");
  TriggerRequest request;
  request.project = "web";
  request.name = "push";
  request.secret = "s3cret";
  auto trigger = f.triggers->Create(request, "alice");
  REQUIRE(trigger);
  // main is the default branch: the build is tagged with the short sha and also "latest".
  auto started =
      f.triggers->Start(trigger->id, "main", std::string(40, 'a'), "alice", Role::kDeveloper);
  REQUIRE_FALSE(started);
  CHECK(started.error().code == Errc::kAlreadyExists);
  CHECK_THAT(started.error().message, Catch::Contains("team/web:latest") &&
                                          Catch::Contains("rule " + std::to_string(rule.id)));
  ImmutabilityRequest off;
  off.enabled = false;
  REQUIRE(f.immutability->Update(rule.id, off, "root"));
  CHECK(f.triggers->Start(trigger->id, "main", std::string(40, 'a'), "alice", Role::kDeveloper));
}

TEST_CASE("Deleting a protected tag, or forcing out an image a protected tag shares, is refused",
          "[immutability]") {
  Fixture f;
  ImmutabilityRule rule = f.Add(Rule("team/web", "v.*"));
  f.registry.AddTag("team/web", "v1", "sha256:aaaa");
  f.registry.AddTag("team/web", "alias", "sha256:aaaa");
  f.registry.AddTag("team/web", "dev", "sha256:bbbb");
  AuditTrail trail(&f.audit, f.clock);

  auto refused = DeleteTag(f.registry, trail, {"team/web", "v1", false, "root"}, {}, nullptr,
                           f.immutability.get());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kAlreadyExists);
  CHECK_THAT(refused.error().message,
             Catch::Contains("immutability rule " + std::to_string(rule.id)) &&
                 Catch::Contains("cannot be deleted"));
  auto forced = DeleteTag(f.registry, trail, {"team/web", "alias", true, "root"}, {}, nullptr,
                          f.immutability.get());
  REQUIRE_FALSE(forced);
  CHECK(forced.error().code == Errc::kAlreadyExists);
  CHECK_THAT(forced.error().message, Catch::Contains("team/web:v1"));
  CHECK(f.registry.GetManifest("team/web", "v1"));
  CHECK(f.registry.GetManifest("team/web", "alias"));

  CHECK(DeleteTag(f.registry, trail, {"team/web", "dev", false, "root"}, {}, nullptr,
                  f.immutability.get()));
  CHECK_FALSE(f.registry.GetManifest("team/web", "dev"));
  // Only the deletion is audited, not the refusals (and the rule's creation before them).
  auto entries = f.audit.Entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[1].action == "registry.tag.delete");
  CHECK(entries[1].target == "registry:team/web:dev");
}

}  // namespace market
