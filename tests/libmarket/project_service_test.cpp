#include "market/project_service.hpp"

#include <catch2/catch.hpp>
#include <optional>

#include "market/testing/fake_clock.hpp"
#include "market/testing/in_memory_project_store.hpp"

using market::Errc;
using market::testing::FakeClock;
using market::testing::InMemoryProjectStore;

namespace {

struct Fixture {
  InMemoryProjectStore store;
  FakeClock clock;
  market::ProjectService service{store, clock, nullptr};

  // The service's listing; without event-loop reads it answers on this thread, at once.
  market::Result<market::ProjectListing> List(const market::ListRequest& request) {
    std::optional<market::Result<market::ProjectListing>> answer;
    service.List(request, [&answer](market::Result<market::ProjectListing> listing) {
      answer = std::move(listing);
    });
    REQUIRE(answer.has_value());
    return std::move(*answer);
  }
};

market::Pipeline RunPipeline(const std::string& command) {
  return {market::PluginInstance{"run", {{"value", std::vector<std::string>{command}}}}};
}

}  // namespace

TEST_CASE_METHOD(Fixture, "new creates a tool project in the default cluster") {
  auto created = service.Create("MyWeb", "alice");
  REQUIRE(created);
  CHECK(created->name == "myweb");
  CHECK(created->creator == "alice");
  CHECK(created->last_modify_operator == "alice");
  CHECK(created->cluster == "default_cluster");
  CHECK(created->define_type == market::DockerfileType::kTool);
  CHECK(created->create_time == clock.Now());

  auto again = service.Create("myweb", "bob");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::kAlreadyExists);
  CHECK(again.error().message == "project: myweb already exist");
}

TEST_CASE_METHOD(Fixture, "bad input changes nothing") {
  CHECK(service.Create("a*b", "alice").error().message == "projectName contains special char: *");
  CHECK(service.Create("ok", "").error().message == "operator is required");
  CHECK(store.size() == 0);
}

TEST_CASE_METHOD(Fixture, "delete and its codes") {
  REQUIRE(service.Create("web", "alice"));
  store.SetActiveBuild("web", true);
  CHECK(service.Delete("web", "alice").error().code == Errc::kBuildActive);
  store.SetActiveBuild("web", false);
  CHECK(service.Delete("web", "alice").has_value());
  auto missing = service.Delete("web", "alice");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kDeleteTargetMissing);
}

TEST_CASE_METHOD(Fixture, "clone copies config and pipeline; the copy belongs to the cloner") {
  market::SaveRequest save{"src", "team", "tool", "add", RunPipeline("make"), "alice"};
  REQUIRE(service.Save(save));
  clock.Advance(std::chrono::minutes(5));

  auto copy = service.Clone("src", "DST", "bob");
  REQUIRE(copy);
  CHECK(copy->name == "dst");
  CHECK(copy->creator == "bob");
  CHECK(copy->last_modify_operator == "bob");
  CHECK(copy->create_time == clock.Now());
  CHECK(copy->cluster == "team");
  CHECK(copy->pipeline == RunPipeline("make"));

  CHECK(service.Clone("nope", "x", "bob").error().code == Errc::kCloneSourceMissing);
  CHECK(service.Clone("src", "dst", "bob").error().code == Errc::kAlreadyExists);
  CHECK(service.Clone("src", "bad name", "bob").error().message ==
        "dstProjectName contains special char: ' ' (space)");
}

TEST_CASE_METHOD(Fixture, "info of a missing project is 10008") {
  auto info = service.Info("ghost");
  REQUIRE_FALSE(info);
  CHECK(info.error().code == Errc::kNotFound);
  CHECK(info.error().message == "project: ghost not exist");
}

TEST_CASE_METHOD(Fixture, "save: add refuses an existing name, update creates a missing one") {
  market::SaveRequest save{"web", std::nullopt, std::nullopt, "update", RunPipeline("a"), "alice"};
  auto created = service.Save(save);
  REQUIRE(created);
  CHECK(created->cluster == "default_cluster");

  save.add_or_update = "add";
  CHECK(service.Save(save).error().code == Errc::kAlreadyExists);

  save.add_or_update = "upsert";
  CHECK(service.Save(save).error().message == "addOrUpdate must be 'add' or 'update', got 'upsert'");

  save.add_or_update = "update";
  save.cluster = "Other";
  save.define_type = "define";
  save.pipeline = RunPipeline("b");
  save.operator_name = "bob";
  clock.Advance(std::chrono::seconds(1));
  auto updated = service.Save(save);
  REQUIRE(updated);
  CHECK(updated->creator == "alice");
  CHECK(updated->last_modify_operator == "bob");
  CHECK(updated->cluster == "other");
  CHECK(updated->define_type == market::DockerfileType::kEdit);
  CHECK(store.Get("web")->pipeline == RunPipeline("b"));

  save.define_type = "yaml";
  CHECK(service.Save(save).error().message ==
        "DefineDockerFileType must be tool, edit or download, got 'yaml'");
  save.define_type.reset();
  save.cluster = "no/slash";
  CHECK(service.Save(save).error().message == "Cluster contains special char: /");
}

TEST_CASE_METHOD(Fixture, "list pages by name and filters literally, case-insensitively") {
  for (const char* name : {"alpha", "beta", "gamma", "delta", "a_b"}) {
    REQUIRE(service.Create(name, "alice"));
  }
  auto all = List({"", "", "", ""});
  REQUIRE(all);
  CHECK(all->page_number == 1);
  CHECK(all->page_size == 10);
  CHECK(all->page.total_count == 5);
  REQUIRE(all->page.projects.size() == 5);
  CHECK(all->page.projects.front().name == "a_b");

  auto second = List({"2", "2", "", ""});
  REQUIRE(second);
  REQUIRE(second->page.projects.size() == 2);
  CHECK(second->page.projects[0].name == "beta");

  auto filtered = List({"", "", "TA", ""});
  REQUIRE(filtered);
  CHECK(filtered->page.total_count == 2);

  CHECK(List({"0", "", "", ""}).error().message.starts_with("page must be"));
  CHECK(List({"", "101", "", ""}).error().message == "page_size must be at most 100");
}
