#include "market/project_service.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "market/plugin_registry.hpp"
#include "market/testing/fake_clock.hpp"
#include "market/testing/in_memory_audit_log.hpp"
#include "market/testing/in_memory_project_store.hpp"
#include "market/testing/recording_event_sink.hpp"

using market::Errc;
using market::testing::FakeClock;
using market::testing::InMemoryProjectStore;
using market::testing::RecordingEventSink;

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

namespace {

using market::AuditEntry;
using market::ChangeOrigin;
using market::PluginInstance;

// A service with the built-in plugins and an audit log, as the server wires it.
struct AuditedFixture {
  InMemoryProjectStore store;
  FakeClock clock;
  market::testing::InMemoryAuditLog audit;
  std::unique_ptr<market::PluginRegistry> plugins = market::MakeBuiltinPluginRegistry();
  market::ProjectService service{store, clock, plugins.get(),
                                 market::ProjectServiceOptions{.audit_log = &audit}};
};

market::Pipeline ToolPipeline(const std::string& base, const std::string& password) {
  return {PluginInstance{"base_image_choose_from_harbor", {{"handleInput", base}}},
          PluginInstance{"download_executable_source",
                         {{"source_type", std::string("git")},
                          {"source_url", std::string("https://git.example.com/a.git")},
                          {"checkoutAs", std::string("a")},
                          {"containerPath", std::string("/a")},
                          {"password", password}}}};
}

nlohmann::json Parsed(const std::string& text) { return nlohmann::json::parse(text); }

}  // namespace

TEST_CASE_METHOD(AuditedFixture, "every change is audited by the service, secrets redacted",
                 "[audit]") {
  const std::string secret = "hunter2-very-secret";
  market::SaveRequest save{"web", std::nullopt, "tool", "update",
                           ToolPipeline("registry.test/base/busybox:1", secret), "dave"};
  REQUIRE(service.Save(save, ChangeOrigin{"", "req-save-1"}));
  save.pipeline = ToolPipeline("registry.test/base/busybox:2", std::string(market::kRedactedSecret));
  REQUIRE(service.Save(save));
  REQUIRE(service.Create("p2", "carol", ChangeOrigin{"ada", "req-new"}));
  REQUIRE(service.Clone("web", "web2", "dave"));
  REQUIRE(service.Delete("web2", "ada"));
  // Refused changes are not audited.
  CHECK_FALSE(service.Create("p2", "carol"));
  CHECK_FALSE(service.Delete("ghost", "ada"));

  std::vector<AuditEntry> entries = audit.Entries();
  REQUIRE(entries.size() == 5);
  for (const AuditEntry& entry : entries) {
    CHECK(entry.before_json.find(secret) == std::string::npos);
    CHECK(entry.after_json.find(secret) == std::string::npos);
    CHECK(entry.time == clock.Now());
  }
  CHECK(entries[0].action == "project.save");
  CHECK(entries[0].target == "project:web");
  CHECK(entries[0].actor == "dave");
  CHECK(entries[0].on_behalf_of == "");
  CHECK(entries[0].request_id == "req-save-1");
  CHECK(entries[0].before_json == "null");
  CHECK(Parsed(entries[0].after_json)["plugins"][1]["password"] == "******");

  CHECK(entries[1].action == "project.save");
  CHECK(Parsed(entries[1].before_json)["plugins"][0]["handleInput"] ==
        "registry.test/base/busybox:1");
  CHECK(Parsed(entries[1].after_json)["plugins"][0]["handleInput"] ==
        "registry.test/base/busybox:2");
  // The redaction marker sent back kept the stored secret.
  CHECK(std::get<std::string>(store.Get("web")->pipeline[1].attributes.at("password")) == secret);

  CHECK(entries[2].action == "project.new");
  CHECK(entries[2].actor == "ada");
  CHECK(entries[2].on_behalf_of == "carol");
  CHECK(entries[2].request_id == "req-new");
  CHECK(Parsed(entries[2].after_json)["creator"] == "carol");

  CHECK(entries[3].action == "project.clone");
  CHECK(entries[3].target == "project:web2");
  CHECK(entries[3].before_json == "null");
  CHECK(Parsed(entries[3].after_json)["clonedFrom"] == "web");
  CHECK(Parsed(entries[3].after_json)["creator"] == "dave");

  CHECK(entries[4].action == "project.delete");
  CHECK(entries[4].target == "project:web2");
  CHECK(Parsed(entries[4].before_json)["name"] == "web2");
  CHECK(entries[4].after_json == "null");
}

TEST_CASE_METHOD(AuditedFixture, "a change stands when its audit entry cannot be written",
                 "[audit]") {
  audit.FailWrites(true);
  REQUIRE(service.Create("web", "alice"));
  CHECK(store.Get("web").has_value());
  CHECK(audit.Entries().empty());
}

TEST_CASE_METHOD(Fixture, "save names the field the project name came in") {
  market::SaveRequest save{"a*b", std::nullopt, std::nullopt, "", RunPipeline("a"), "alice"};
  CHECK(service.Save(save).error().message == "project contains special char: *");
  save.name_field = "projectName";
  CHECK(service.Save(save).error().message == "projectName contains special char: *");
  save.name = "ok";
  save.add_or_update = "";  // not given: update
  CHECK(service.Save(save).has_value());
}

TEST_CASE_METHOD(AuditedFixture, "preview renders a pipeline without storing it") {
  market::PreviewRequest preview{"", ToolPipeline("registry.test/base/busybox:1", "pw")};
  auto rendered = service.Preview(preview);
  REQUIRE(rendered);
  CHECK(rendered->text.starts_with("FROM registry.test/base/busybox:1\n"));
  CHECK(store.size() == 0);

  preview.define_type = "yaml";
  CHECK(service.Preview(preview).error().message ==
        "DefineDockerFileType must be tool, edit or download, got 'yaml'");
  preview.define_type = "edit";
  CHECK(service.Preview(preview).error().code == Errc::kInvalid);

  preview.define_type = "tool";
  preview.pipeline.push_back(
      PluginInstance{"run", {{"value", std::vector<std::string>{"a\nRUN evil"}}}});
  CHECK(service.Preview(preview).error().code == Errc::kInvalid);
  preview.pipeline.back().plugin = "no_such_plugin";
  CHECK(service.Preview(preview).error().code == Errc::kUnknownPlugin);
}

TEST_CASE_METHOD(AuditedFixture, "the stored project's Dockerfile, or why it has none") {
  CHECK(service.Dockerfile("ghost").error().code == Errc::kNotFound);
  CHECK(service.Dockerfile("Bad*").error().message == "projectName contains special char: *");
  REQUIRE(service.Create("web", "alice"));
  auto empty = service.Dockerfile("web");  // new projects have no base image yet
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == Errc::kInvalid);
  CHECK(empty.error().message.find("base_image_choose_from_harbor") != std::string::npos);

  market::SaveRequest save{"web", std::nullopt, std::nullopt, "update",
                           ToolPipeline("registry.test/base/busybox:1", "pw"), "alice"};
  REQUIRE(service.Save(save));
  auto rendered = service.Dockerfile("WEB");
  REQUIRE(rendered);
  CHECK(rendered->text.starts_with("FROM registry.test/base/busybox:1\n"));
}

namespace {

struct PublishingFixture {
  InMemoryProjectStore store;
  FakeClock clock;
  RecordingEventSink events;
  market::ProjectService service{
      store, clock, nullptr, market::ProjectServiceOptions{"default_cluster", nullptr, &events}};
};

}  // namespace

TEST_CASE_METHOD(PublishingFixture, "created, cloned and deleted projects are published") {
  using market::EventType;
  REQUIRE(service.Create("MyWeb", "alice"));
  REQUIRE(service.Clone("myweb", "copy", "bob"));
  clock.Advance(std::chrono::milliseconds{5000});
  REQUIRE(service.Delete("myweb", "carol"));

  auto heard = events.Events();
  REQUIRE(heard.size() == 3);
  CHECK(heard[0].type == EventType::kProjectCreated);
  CHECK(heard[0].project == "myweb");  // as stored
  CHECK(heard[0].operator_name == "alice");
  CHECK(heard[1].type == EventType::kProjectCreated);
  CHECK(heard[1].project == "copy");  // the copy is what was created
  CHECK(heard[1].operator_name == "bob");
  CHECK(heard[2].type == EventType::kProjectDeleted);
  CHECK(heard[2].project == "myweb");
  CHECK(heard[2].operator_name == "carol");
  CHECK(heard[2].occurred_at == clock.Now());
  for (const auto& event : heard) {
    CHECK(event.repository.empty());
    CHECK_FALSE(event.build.has_value());
    CHECK(event.id.size() == 36);
  }
  // Published by the thread that made the change, once it was made.
  for (const auto& thread : events.Threads()) CHECK(thread == std::this_thread::get_id());
}

TEST_CASE_METHOD(PublishingFixture,
                 "a save that creates the project is a creation; an update is not") {
  market::SaveRequest add{"web", "team", "tool", "add", RunPipeline("make"), "alice"};
  REQUIRE(service.Save(add));
  market::SaveRequest update{"web", std::nullopt, std::nullopt, "update", RunPipeline("a"), "bob"};
  REQUIRE(service.Save(update));
  market::SaveRequest upsert{"api", std::nullopt, std::nullopt, "update", RunPipeline("a"), "bob"};
  REQUIRE(service.Save(upsert));  // a missing project is inserted

  auto heard = events.Events();
  REQUIRE(heard.size() == 2);
  CHECK(heard[0].type == market::EventType::kProjectCreated);
  CHECK(heard[0].project == "web");
  CHECK(heard[0].operator_name == "alice");
  CHECK(heard[1].type == market::EventType::kProjectCreated);
  CHECK(heard[1].project == "api");
  CHECK(heard[1].operator_name == "bob");
}

TEST_CASE_METHOD(PublishingFixture, "refused project changes publish nothing") {
  CHECK_FALSE(service.Create("a*b", "alice"));
  CHECK_FALSE(service.Create("web", ""));
  CHECK_FALSE(service.Delete("ghost", "alice"));
  CHECK_FALSE(service.Clone("ghost", "copy", "bob"));
  CHECK(events.Events().empty());

  REQUIRE(service.Create("web", "alice"));
  events.Clear();
  CHECK_FALSE(service.Create("web", "bob"));  // taken
  CHECK_FALSE(service.Clone("web", "web", "bob"));
  market::SaveRequest add{"web", std::nullopt, std::nullopt, "add", RunPipeline("a"), "bob"};
  CHECK_FALSE(service.Save(add));
  store.SetActiveBuild("web", true);
  CHECK(service.Delete("web", "alice").error().code == Errc::kBuildActive);
  CHECK(events.Events().empty());
}
