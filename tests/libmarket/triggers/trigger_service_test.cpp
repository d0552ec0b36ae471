// Build triggers end to end with the fake builder and checkout, on the real SQLite stores: an
// event queues one build of the pushed commit, redeliveries queue none, failures disable.

#include "market/trigger_service.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "libmarket/build/build_world.hpp"
#include "market/webhook_signature.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const std::string kRepo = "https://git.example.com/team/app.git";
const std::string kOther = "https://git.example.com/team/lib.git";
const std::string kSha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

PluginInstance Entry(std::string plugin, std::map<std::string, AttributeValue> attributes) {
  return PluginInstance{std::move(plugin), std::move(attributes)};
}

PluginInstance GitSource(const std::string& url, const std::string& folder) {
  return Entry("download_executable_source", {{"source_type", std::string("git")},
                                              {"source_url", url},
                                              {"checkoutAs", folder},
                                              {"ref", std::string("main")},
                                              {"containerPath", "/opt/" + folder}});
}

struct Fixture : testing::BuildWorld {
  Fixture() {
    BuildDependencies deps = Dependencies();
    deps.events = &events;
    builds = std::make_unique<BuildService>(deps, Options("trigger-test:1"));
    triggers = std::make_unique<TriggerService>(
        TriggerDependencies{.store = stores.triggers.get(),
                            .builds = builds.get(),
                            .build_store = stores.builds.get(),
                            .projects = stores.projects.get(),
                            .plugins = plugins.get(),
                            .clock = &clock,
                            .audit = stores.audit.get()},
        TriggerOptions{.disable_after = 3, .deliveries_kept = 4});
    events.Add(triggers.get());
  }
  ~Fixture() { builds->Stop(); }

  void AddProject(const std::string& name, Pipeline extra) {
    Pipeline pipeline = {Entry("base_image_choose_from_harbor",
                               {{"handleInput", std::string("registry.test:5000/base/busybox:1")}})};
    for (auto& entry : extra) pipeline.push_back(std::move(entry));
    InsertProject(name, std::move(pipeline));
  }

  BuildTriggerRule AddTrigger(const std::string& project) {
    TriggerRequest request;
    request.project = project;
    request.name = "on-push";
    request.secret = "s3cret";
    auto rule = triggers->Create(request, "alice");
    REQUIRE(rule);
    return *rule;
  }

  Build WaitFinished(std::int64_t id) {
    auto deadline = std::chrono::steady_clock::now() + 15s;
    for (;;) {
      auto b = stores.builds->Get(id);
      REQUIRE(b);
      if (IsFinished(b->state) || std::chrono::steady_clock::now() > deadline) return *b;
      std::this_thread::sleep_for(20ms);
    }
  }

  EventFanOut events;
  std::unique_ptr<BuildService> builds;
  std::unique_ptr<TriggerService> triggers;
};

HookRequest GitHubPush(const std::string& delivery, const std::string& sha = kSha,
                       const std::string& url = "git@git.example.com:team/app.git") {
  json body = {{"ref", "refs/heads/main"},
               {"after", sha},
               {"deleted", false},
               {"head_commit", {{"id", sha}, {"message", "change"}}},
               {"repository", {{"ssh_url", url}, {"default_branch", "main"}}}};
  HookRequest request;
  request.body = body.dump();
  request.headers = {{"x-github-event", "push"},
                     {"x-github-delivery", delivery},
                     {"x-hub-signature-256", "sha256=" + HmacSha256Hex("s3cret", request.body)}};
  return request;
}

}  // namespace

TEST_CASE("A push builds the pushed commit of the pushed repository only", "[triggers]") {
  Fixture f;
  f.AddProject("web", {GitSource(kRepo, "app"), GitSource(kOther, "lib")});
  BuildTriggerRule rule = f.AddTrigger("web");
  CHECK(rule.secret == "s3cret");
  f.builds->Start();

  auto receipt = f.triggers->Receive(rule.id, GitHubPush("d-1"));
  REQUIRE(receipt);
  REQUIRE(receipt->build);
  CHECK_FALSE(receipt->duplicate);
  const Build& queued = *receipt->build;
  CHECK(queued.tag == "4b825dc");
  CHECK(queued.extra_tags == std::vector<std::string>{"latest"});
  CHECK(queued.operator_name == "alice");
  CHECK(queued.trigger.kind == "git-push");
  CHECK(queued.trigger.trigger_id == rule.id);
  CHECK(queued.trigger.ref == "refs/heads/main");
  CHECK(queued.trigger.sha == kSha);
  CHECK(queued.trigger.repository == kRepo);  // as the project names it
  CHECK(queued.trigger.delivery_id == "d-1");

  Build done = f.WaitFinished(queued.id);
  REQUIRE(done.state == BuildState::kSucceeded);
  CHECK(done.trigger == queued.trigger);
  auto checkouts = f.checkout.Calls();
  REQUIRE(checkouts.size() == 2);
  for (const SourceSpec& source : checkouts) {
    // The pushed repository at the pushed commit; the other one as the project says.
    CHECK(source.ref == (source.url == kRepo ? kSha : std::string("main")));
  }
  auto calls = f.builder.Calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].request.image == "registry.test:5000/team/web:4b825dc");
  CHECK(calls[0].request.extra_images ==
        std::vector<std::string>{"registry.test:5000/team/web:latest"});
}

TEST_CASE("A redelivered event queues no second build", "[triggers]") {
  Fixture f;
  f.AddProject("web", {GitSource(kRepo, "app")});
  BuildTriggerRule rule = f.AddTrigger("web");
  auto first = f.triggers->Receive(rule.id, GitHubPush("d-1"));
  REQUIRE(first);
  REQUIRE(first->build);
  // The same delivery id again.
  auto again = f.triggers->Receive(rule.id, GitHubPush("d-1"));
  REQUIRE(again);
  REQUIRE(again->build);
  CHECK(again->duplicate);
  CHECK(again->build->id == first->build->id);
  // Another delivery of the same commit for the same tag.
  auto same_commit = f.triggers->Receive(rule.id, GitHubPush("d-2"));
  REQUIRE(same_commit);
  CHECK(same_commit->duplicate);
  CHECK(same_commit->build->id == first->build->id);
  // A new commit builds.
  auto next = f.triggers->Receive(rule.id, GitHubPush("d-3", std::string(40, 'a')));
  REQUIRE(next);
  REQUIRE(next->build);
  CHECK_FALSE(next->duplicate);
  CHECK(next->build->id != first->build->id);
  // A manual start of the same commit is not a redelivery: it builds.
  auto started = f.triggers->Start(rule.id, "main", kSha, "bob", Role::kDeveloper);
  REQUIRE(started);
  CHECK(started->trigger.kind == "start");
  CHECK(started->tag == "4b825dc");
  CHECK(started->operator_name == "bob");
}

TEST_CASE("Refusals: unknown, unsigned, disabled, and pushes of another repository", "[triggers]") {
  Fixture f;
  f.AddProject("web", {GitSource(kRepo, "app")});
  BuildTriggerRule rule = f.AddTrigger("web");
  CHECK(f.triggers->Receive(rule.id + 100, GitHubPush("d-1")).error().code == Errc::kNotFound);

  HookRequest forged = GitHubPush("d-1");
  forged.headers["x-hub-signature-256"] = "sha256=" + HmacSha256Hex("guess", forged.body);
  CHECK(f.triggers->Receive(rule.id, forged).error().code == Errc::kUnauthorized);

  auto other = f.triggers->Receive(rule.id, GitHubPush("d-2", kSha, "https://elsewhere.test/x"));
  REQUIRE_FALSE(other);
  CHECK(other.error().code == Errc::kInvalid);
  CHECK_THAT(other.error().message, Catch::Contains("none of project web's git sources"));

  TriggerRequest off;
  off.enabled = false;
  REQUIRE(f.triggers->Update(rule.id, off, "alice"));
  auto disabled = f.triggers->Receive(rule.id, GitHubPush("d-3"));
  REQUIRE_FALSE(disabled);
  CHECK(disabled.error().code == Errc::kInvalid);
  CHECK_THAT(disabled.error().message, Catch::Contains("disabled"));
  // Nothing of the above queued a build.
  CHECK(f.stores.builds->QueueDepth().value() == 0);
}

TEST_CASE("What a trigger receives is recorded newest first, bounded, unsigned requests not",
          "[triggers]") {
  Fixture f;
  f.AddProject("web", {GitSource(kRepo, "app")});
  BuildTriggerRule rule = f.AddTrigger("web");

  auto queued = f.triggers->Receive(rule.id, GitHubPush("d-1"));
  REQUIRE(queued);
  REQUIRE(queued->build);
  REQUIRE(f.triggers->Receive(rule.id, GitHubPush("d-1")));  // redelivered
  HookRequest ping = GitHubPush("d-2");
  ping.headers["x-github-event"] = "ping";
  REQUIRE(f.triggers->Receive(rule.id, ping));
  REQUIRE_FALSE(f.triggers->Receive(rule.id, GitHubPush("d-3", kSha, "https://elsewhere.test/x")));
  HookRequest forged = GitHubPush("d-4");
  forged.headers["x-hub-signature-256"] = "sha256=" + HmacSha256Hex("guess", forged.body);
  REQUIRE_FALSE(f.triggers->Receive(rule.id, forged));

  auto deliveries = f.triggers->Deliveries(rule.id);
  REQUIRE(deliveries);
  REQUIRE(deliveries->size() == 4);  // the forged one is not among them
  const auto& list = *deliveries;
  CHECK(list[0].delivery_id == "d-3");
  CHECK(list[0].outcome == "refused");
  CHECK_THAT(list[0].reason, Catch::Contains("none of project web's git sources"));
  CHECK(list[0].build_id == 0);
  CHECK(list[1].delivery_id == "d-2");
  CHECK(list[1].event == "ping");
  CHECK(list[1].outcome == "skipped");
  CHECK_FALSE(list[1].reason.empty());
  CHECK(list[2].delivery_id == "d-1");
  CHECK(list[2].outcome == "duplicate");
  CHECK(list[2].build_id == queued->build->id);
  CHECK(list[3].delivery_id == "d-1");
  CHECK(list[3].outcome == "queued");
  CHECK(list[3].build_id == queued->build->id);
  CHECK(list[3].host == "github");
  CHECK(list[3].event == "push");
  CHECK(list[3].ref == "refs/heads/main");
  CHECK(list[3].sha == kSha);
  CHECK(list[3].trigger_id == rule.id);
  CHECK(list[3].received_at == f.clock.Now());

  // The fixture keeps four: a fifth event pushes the oldest out.
  REQUIRE(f.triggers->Receive(rule.id, GitHubPush("d-5", std::string(40, 'b'))));
  deliveries = f.triggers->Deliveries(rule.id);
  REQUIRE(deliveries);
  REQUIRE(deliveries->size() == 4);
  CHECK(deliveries->front().delivery_id == "d-5");
  CHECK(deliveries->front().outcome == "queued");
  CHECK(deliveries->back().outcome == "duplicate");

  // A disabled trigger's refusals are recorded too; a deleted trigger has no record.
  TriggerRequest off;
  off.enabled = false;
  REQUIRE(f.triggers->Update(rule.id, off, "alice"));
  REQUIRE_FALSE(f.triggers->Receive(rule.id, GitHubPush("d-6")));
  deliveries = f.triggers->Deliveries(rule.id);
  REQUIRE(deliveries);
  CHECK(deliveries->front().outcome == "refused");
  CHECK_THAT(deliveries->front().reason, Catch::Contains("disabled"));
  REQUIRE(f.triggers->Delete(rule.id, "alice"));
  CHECK(f.triggers->Deliveries(rule.id).error().code == Errc::kNotFound);
}

TEST_CASE("Manual start needs a ref or a sha and the project's one git repository", "[triggers]") {
  Fixture f;
  f.AddProject("web", {GitSource(kRepo, "app"), GitSource(kOther, "lib")});
  f.AddProject("solo", {GitSource(kRepo, "app")});
  BuildTriggerRule two = f.AddTrigger("web");
  BuildTriggerRule one = f.AddTrigger("solo");
  CHECK_THAT(f.triggers->Start(one.id, "", "", "bob", Role::kDeveloper).error().message,
             Catch::Contains("ref or sha"));
  CHECK_THAT(f.triggers->Start(one.id, "", "abc", "bob", Role::kDeveloper).error().message,
             Catch::Contains("sha"));
  CHECK_THAT(f.triggers->Start(two.id, "main", "", "bob", Role::kDeveloper).error().message,
             Catch::Contains("2 git repositories"));
  auto by_tag = f.triggers->Start(one.id, "refs/tags/v2.0", "", "bob", Role::kDeveloper);
  REQUIRE(by_tag);
  CHECK(by_tag->trigger.ref == "refs/tags/v2.0");
  CHECK(by_tag->trigger.sha.empty());
  f.builds->Start();
  REQUIRE(f.WaitFinished(by_tag->id).state == BuildState::kSucceeded);
  auto checkouts = f.checkout.Calls();
  REQUIRE(checkouts.size() == 1);
  CHECK(checkouts[0].ref == "v2.0");  // the tag, for want of a commit
}

TEST_CASE("A trigger whose builds fail in a row is disabled with the reason", "[triggers]") {
  Fixture f;
  f.AddProject("web", {GitSource(kRepo, "app")});
  BuildTriggerRule rule = f.AddTrigger("web");
  testing::FakeImageBuilder::Behaviour failing;
  failing.mode = testing::FakeImageBuilder::Mode::kFail;
  f.builder.SetDefault(failing);
  f.builds->Start();
  for (int i = 0; i < 3; ++i) {
    auto receipt = f.triggers->Receive(
        rule.id, GitHubPush("d-" + std::to_string(i), std::string(39, 'a') + char('0' + i)));
    REQUIRE(receipt);
    REQUIRE(receipt->build);
    CHECK(f.WaitFinished(receipt->build->id).state == BuildState::kFailed);
  }
  auto after = f.triggers->Get(rule.id);
  REQUIRE(after);
  CHECK_FALSE(after->enabled);
  CHECK(after->consecutive_failures == 3);
  CHECK_THAT(after->disabled_reason, Catch::Contains("3 triggered builds failed in a row"));
  CHECK_FALSE(f.triggers->Receive(rule.id, GitHubPush("d-9", std::string(40, 'b'))));

  // Enabling again resumes with a clean count; a success keeps it at zero.
  f.builder.SetDefault({});
  TriggerRequest on;
  on.enabled = true;
  auto enabled = f.triggers->Update(rule.id, on, "alice");
  REQUIRE(enabled);
  CHECK(enabled->consecutive_failures == 0);
  CHECK(enabled->disabled_reason.empty());
  auto receipt = f.triggers->Receive(rule.id, GitHubPush("d-10", std::string(40, 'c')));
  REQUIRE(receipt);
  REQUIRE(f.WaitFinished(receipt->build->id).state == BuildState::kSucceeded);
  std::this_thread::sleep_for(50ms);  // the end is counted right after it is recorded
  CHECK(f.triggers->Get(rule.id)->consecutive_failures == 0);
}

TEST_CASE("Trigger requests are checked and the secret generated when missing", "[triggers]") {
  Fixture f;
  f.AddProject("web", {GitSource(kRepo, "app")});
  TriggerRequest request;
  request.project = "web";
  CHECK_THAT(f.triggers->Create(request, "alice").error().message, Catch::Contains("name"));
  request.name = "bad name";
  CHECK_THAT(f.triggers->Create(request, "alice").error().message, Catch::Contains("name"));
  request.name = "ok";
  request.branches = "([a-z]";
  CHECK_THAT(f.triggers->Create(request, "alice").error().message, Catch::Contains("branches"));
  request.branches.reset();
  request.secret = std::string("line\nbreak");
  CHECK_THAT(f.triggers->Create(request, "alice").error().message, Catch::Contains("secret"));
  request.secret.reset();
  request.project = "nope";
  CHECK(f.triggers->Create(request, "alice").error().code == Errc::kBuildProjectMissing);
  request.project = "web";
  auto made = f.triggers->Create(request, "alice");
  REQUIRE(made);
  CHECK(made->secret.size() == 64);  // 32 random bytes as hex
  CHECK(f.triggers->Create(request, "alice").error().code == Errc::kAlreadyExists);
  // Deleting the project deletes its triggers.
  REQUIRE(f.stores.projects->Remove("web"));
  CHECK(f.triggers->Get(made->id).error().code == Errc::kNotFound);
}

}  // namespace market
