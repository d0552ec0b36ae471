// The build queue's logic with fake builder, checkout and registry, on the real SQLite store.

#include "market/build_service.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "market/plugin_registry.hpp"
#include "market/testing/fake_clock.hpp"
#include "market/testing/fake_image_builder.hpp"
#include "market/testing/fake_registry.hpp"
#include "market/testing/fake_source_checkout.hpp"
#include "market/testing/recording_event_sink.hpp"
#include "market/validation.hpp"
#include "support/ended_builds.hpp"
#include "support/test_stores.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;
using std::chrono::days;
using testing::FakeImageBuilder;

PluginInstance Entry(std::string plugin, std::map<std::string, AttributeValue> attributes) {
  return PluginInstance{std::move(plugin), std::move(attributes)};
}

FakeImageBuilder::Behaviour Behave(FakeImageBuilder::Mode mode, std::vector<std::string> lines = {},
                                   std::string error = "RUN exited with status 1",
                                   std::chrono::milliseconds delay = 0ms) {
  FakeImageBuilder::Behaviour b;
  b.mode = mode;
  b.lines = std::move(lines);
  b.error = std::move(error);
  b.delay = delay;
  return b;
}

Build Queued(const std::string& project, const std::string& tag, TimePoint now) {
  Build b;
  b.project = project;
  b.tag = tag;
  b.operator_name = "bob";
  b.image = "registry.test:5000/team/" + project + ":" + tag;
  b.queued_at = now;
  return b;
}

Pipeline SimplePipeline() {
  return {Entry("base_image_choose_from_harbor",
                {{"handleInput", std::string("registry.test:5000/base/busybox:1")}}),
          Entry("run", {{"value", std::vector<std::string>{"echo built"}}})};
}

struct Fixture {
  explicit Fixture(int workers = 2, Registry* registry_override = nullptr, bool no_registry = false,
                   testing::Backend backend = testing::Backend::kSqlite)
      : db(backend) {
    auto opened = db.Open();
    REQUIRE(opened);
    stores = std::move(*opened);
    options.workers = workers;
    options.workspace = workspace.path() / "ws";
    options.worker_prefix = "test-host:1";
    options.poll_interval = 50ms;
    options.lease = 30s;
    deps.projects = stores.projects.get();
    deps.builds = stores.builds.get();
    deps.plugins = plugins.get();
    deps.builder = &builder;
    deps.checkout = &checkout;
    deps.registry = no_registry ? nullptr : (registry_override ? registry_override : &registry);
    deps.clock = &clock;
  }

  BuildService& Service() {
    if (!service) service = std::make_unique<BuildService>(deps, options);
    return *service;
  }

  void AddProject(const std::string& name, Pipeline pipeline = SimplePipeline(),
                  DockerfileType type = DockerfileType::kTool,
                  const std::string& cluster = "team") {
    Project p;
    p.name = name;
    p.creator = "alice";
    p.create_time = clock.Now();
    p.last_modify_time = clock.Now();
    p.last_modify_operator = "alice";
    p.cluster = cluster;
    p.define_type = type;
    p.pipeline = std::move(pipeline);
    REQUIRE(stores.projects->Insert(p));
  }

  Build WaitFinished(std::int64_t id, std::chrono::milliseconds timeout = 15s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto b = stores.builds->Get(id);
      REQUIRE(b);
      if (IsFinished(b->state) || std::chrono::steady_clock::now() > deadline) return *b;
      std::this_thread::sleep_for(20ms);
    }
  }

  std::string WholeLog(std::int64_t id) {
    std::string text;
    std::int64_t offset = 0;
    for (;;) {
      auto chunk = stores.builds->ReadLog(id, offset, 1 << 20);
      REQUIRE(chunk);
      text += chunk->text;
      if (chunk->next_offset == offset) return text;
      offset = chunk->next_offset;
    }
  }

  testing::TestDatabase db;
  Stores stores;
  testing::FakeClock clock;
  std::unique_ptr<PluginRegistry> plugins = MakeBuiltinPluginRegistry();
  FakeImageBuilder builder;
  testing::FakeSourceCheckout checkout;
  testing::FakeRegistry registry{"registry.test:5000"};
  testing::TempDir workspace;
  BuildServiceOptions options;
  BuildDependencies deps;
  std::unique_ptr<BuildService> service;
};

bool WorkspaceEmpty(const std::filesystem::path& dir) {
  std::error_code ec;
  return !std::filesystem::exists(dir, ec) || std::filesystem::is_empty(dir, ec);
}

TEST_CASE("Enqueue validates and names the image", "[build]") {
  Fixture f;
  f.AddProject("web");

  auto missing = f.Service().Enqueue("nope", "v1", "bob");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kBuildProjectMissing);

  auto bad_tag = f.Service().Enqueue("web", "bad tag!", "bob");
  REQUIRE_FALSE(bad_tag);
  CHECK(bad_tag.error().code == Errc::kInvalid);

  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  CHECK(queued->state == BuildState::kQueued);
  CHECK(queued->image == "registry.test:5000/team/web:v1");
  CHECK(queued->operator_name == "bob");

  auto untagged = f.Service().Enqueue("web", "", "bob");
  REQUIRE(untagged);
  CHECK(untagged->tag == FormatCompactUtc(f.clock.Now()));
  CHECK(untagged->image == "registry.test:5000/team/web:" + FormatCompactUtc(f.clock.Now()));
}

TEST_CASE("Enqueue without a registry is refused", "[build]") {
  Fixture f(2, nullptr, /*no_registry=*/true);
  f.AddProject("web");
  auto r = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::kRegistryNotConfigured);
}

TEST_CASE("Queued builds are bounded per project and per operator", "[build]") {
  Fixture f;
  f.options.max_queued_per_project = 2;
  f.options.max_queued_per_operator = 3;
  f.AddProject("web");
  f.AddProject("api");
  REQUIRE(f.Service().Enqueue("web", "v1", "bob"));
  REQUIRE(f.Service().Enqueue("web", "v2", "bob"));
  auto third = f.Service().Enqueue("web", "v3", "carol");
  REQUIRE_FALSE(third);
  CHECK(third.error().code == Errc::kTooManyRequests);
  CHECK_THAT(third.error().message, Catch::Contains("max-queued-builds-per-project"));
  // bob has two queued: one more anywhere, then his bound.
  REQUIRE(f.Service().Enqueue("api", "v1", "bob"));
  auto fourth = f.Service().Enqueue("api", "v2", "bob");
  REQUIRE_FALSE(fourth);
  CHECK(fourth.error().code == Errc::kTooManyRequests);
  CHECK_THAT(fourth.error().message, Catch::Contains("max-queued-builds-per-user"));
  // Another operator is not bound by bob's builds; a cancelled build frees its place.
  REQUIRE(f.Service().Enqueue("api", "v2", "carol"));
  auto first = f.stores.builds->ListForProject("web", 1, 10);
  REQUIRE(first);
  REQUIRE(f.Service().Cancel(first->builds.back().id, "bob"));
  CHECK(f.Service().Enqueue("web", "v3", "carol").has_value());
}

TEST_CASE("A build runs, pushes and records digest, size and log, and the workspace goes",
          "[build]") {
  Fixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kSucceed,
                              {"STEP 1/2: FROM busybox", "STEP 2/2: RUN echo built"}));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  REQUIRE(done.state == BuildState::kSucceeded);
  CHECK(done.digest.rfind("sha256:", 0) == 0);
  CHECK(done.size > 0);
  CHECK(done.started_at.has_value());
  CHECK(done.finished_at.has_value());

  auto calls = f.builder.Calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].request.image == "registry.test:5000/team/web:v1");
  CHECK(calls[0].request.registry_host == "registry.test:5000");
  CHECK(calls[0].dockerfile_text.rfind("FROM registry.test:5000/base/busybox:1\n", 0) == 0);
  CHECK(calls[0].dockerfile_text.find("RUN") != std::string::npos);
  CHECK(f.registry.Calls("EnsureProject") == 1);

  std::string log = f.WholeLog(done.id);
  CHECK(log.find("STEP 2/2: RUN echo built\n") != std::string::npos);
  CHECK(log.find("  FROM registry.test:5000/base/busybox:1") != std::string::npos);
  CHECK(log.find("build succeeded") != std::string::npos);
  auto chunk = f.Service().ReadLog(done.id, 0, 1 << 20);
  REQUIRE(chunk);
  CHECK(chunk->finished);
  CHECK(WorkspaceEmpty(f.options.workspace));

  auto history = f.Service().History("web", 1, 10);
  REQUIRE(history);
  REQUIRE(history->builds.size() == 1);
  CHECK(history->builds[0].id == done.id);
}

TEST_CASE("A failing build ends failed with the error as reason and last log line", "[build]") {
  Fixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kFail, {"/bin/sh: false: exit status 1"},
                              "buildah bud failed: exit status 1"));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  CHECK(done.state == BuildState::kFailed);
  CHECK(done.reason == "buildah bud failed: exit status 1");
  std::string log = f.WholeLog(done.id);
  CHECK(log.find("/bin/sh: false: exit status 1") != std::string::npos);
  auto last_line_start = log.rfind('\n', log.size() - 2);
  CHECK(log.substr(last_line_start + 1).find("buildah bud failed: exit status 1") !=
        std::string::npos);
  CHECK(WorkspaceEmpty(f.options.workspace));
}

TEST_CASE("Cancelling a queued build: it never runs", "[build]") {
  Fixture f;
  f.AddProject("web");
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  auto cancelled = f.Service().Cancel(queued->id, "carol");
  REQUIRE(cancelled);
  CHECK(cancelled->state == BuildState::kCancelled);
  f.Service().Start();
  auto later = f.Service().Enqueue("web", "v2", "bob");
  REQUIRE(later);
  CHECK(f.WaitFinished(later->id).state == BuildState::kSucceeded);
  auto calls = f.builder.Calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].request.image.ends_with(":v2"));
  auto again = f.Service().Cancel(queued->id, "carol");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::kBuildFinished);
  auto unknown = f.Service().Cancel(999999, "carol");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::kBuildNotFound);
}

TEST_CASE("Cancelling a running build stops the builder", "[build]") {
  Fixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kHang, {"STEP 1/2: FROM x"}));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.builder.WaitForRunning(1, 10s));
  auto requested = f.Service().Cancel(queued->id, "carol");
  REQUIRE(requested);
  Build done = f.WaitFinished(queued->id);
  CHECK(done.state == BuildState::kCancelled);
  CHECK(done.reason.find("carol") != std::string::npos);
  CHECK(f.builder.Running() == 0);
  CHECK(f.WholeLog(done.id).find("build cancelled") != std::string::npos);
  CHECK(WorkspaceEmpty(f.options.workspace));
}

TEST_CASE("A cancel recorded by another instance reaches the running build", "[build]") {
  Fixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kHang));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.builder.WaitForRunning(1, 10s));
  // Straight into the store, as a different server process would.
  REQUIRE(f.stores.builds->RequestCancel(queued->id, "cancelled by dave", f.clock.Now()));
  Build done = f.WaitFinished(queued->id);
  CHECK(done.state == BuildState::kCancelled);
  CHECK(f.builder.Running() == 0);
}

TEST_CASE("Stop records running builds as failed: server stopping", "[build]") {
  Fixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kHang));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.builder.WaitForRunning(1, 10s));
  f.Service().Stop();
  auto b = f.stores.builds->Get(queued->id);
  REQUIRE(b);
  CHECK(b->state == BuildState::kFailed);
  CHECK(b->reason == "server stopping");
  CHECK(f.builder.Running() == 0);
  CHECK(WorkspaceEmpty(f.options.workspace));
}

TEST_CASE("Eight builds of three projects: all finish, each once, one at a time per project",
          "[build]") {
  // PostgreSQL too when available: its claim is FOR UPDATE SKIP LOCKED.
  auto backend = GENERATE(from_range(testing::AvailableBackends()));
  INFO(testing::ToString(backend));
  Fixture f(3, nullptr, false, backend);
  for (const char* p : {"alpha", "beta", "gamma"}) f.AddProject(p);
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kSucceed, {}, "", 30ms));
  f.Service().Start();
  std::vector<std::int64_t> ids;
  const char* projects[] = {"alpha", "beta", "gamma"};
  for (int i = 0; i < 8; ++i) {
    auto b = f.Service().Enqueue(projects[i % 3], "t" + std::to_string(i), "bob");
    REQUIRE(b);
    ids.push_back(b->id);
  }
  for (auto id : ids) CHECK(f.WaitFinished(id, 30s).state == BuildState::kSucceeded);
  auto calls = f.builder.Calls();
  CHECK(calls.size() == 8);
  std::set<std::string> images;
  for (const auto& c : calls) images.insert(c.request.image);
  CHECK(images.size() == 8);  // none ran twice
  CHECK(f.builder.MaxRunningPerRepository() == 1);
  CHECK(f.builder.MaxRunning() <= 3);
}

TEST_CASE("Builds left by a dead worker are failed at start, and their workspaces go",
          "[build]") {
  auto backend = GENERATE(from_range(testing::AvailableBackends()));
  INFO(testing::ToString(backend));
  Fixture f(2, nullptr, false, backend);
  f.AddProject("web");
  f.AddProject("api");
  f.AddProject("live");
  auto a = f.stores.builds->Enqueue(Queued("web", "v1", f.clock.Now()));
  auto b = f.stores.builds->Enqueue(Queued("api", "v1", f.clock.Now()));
  auto c = f.stores.builds->Enqueue(Queued("live", "v1", f.clock.Now()));
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  // One claimed by this instance's previous life (which ran more workers than it does now),
  // one by another host that died, one by another host that is alive.
  auto now = f.clock.Now();
  auto first = f.stores.builds->ClaimNext("test-host:1/5", now, now + 30s);
  REQUIRE((first && *first));
  auto second = f.stores.builds->ClaimNext("other-host:7/0", now, now + 30s);
  REQUIRE((second && *second));
  auto third = f.stores.builds->ClaimNext("live-host:3/0", now, now + 300s);
  REQUIRE((third && *third));
  f.clock.Advance(31s);  // the other host's lease ran out
  const auto ws = f.options.workspace;
  for (auto id : {(*first)->id, (*third)->id}) {
    std::filesystem::create_directories(ws / ("build-" + std::to_string(id)) / "context");
  }
  std::filesystem::create_directories(ws / "build-99999");  // a build the database never had
  std::filesystem::create_directories(ws / "storage" / "root");
  std::filesystem::create_directories(ws / "build-notes");

  f.Service().Start();
  auto own = f.stores.builds->Get((*first)->id);
  auto other = f.stores.builds->Get((*second)->id);
  REQUIRE(own);
  REQUIRE(other);
  CHECK(own->state == BuildState::kFailed);
  CHECK(own->reason.find("restarted") != std::string::npos);
  CHECK(other->state == BuildState::kFailed);
  CHECK(other->reason.find("lease") != std::string::npos);
  CHECK(f.stores.builds->Get((*third)->id)->state == BuildState::kRunning);
  CHECK(f.builder.Calls().empty());

  CHECK_FALSE(std::filesystem::exists(ws / ("build-" + std::to_string((*first)->id))));
  CHECK_FALSE(std::filesystem::exists(ws / "build-99999"));
  CHECK(std::filesystem::exists(ws / ("build-" + std::to_string((*third)->id))));
  CHECK(std::filesystem::exists(ws / "storage" / "root"));
  CHECK(std::filesystem::exists(ws / "build-notes"));
}

TEST_CASE("A worker that lost its lease stops building", "[build]") {
  Fixture f;
  f.options.lease = 600ms;  // heartbeats every 200 ms
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kHang));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.builder.WaitForRunning(1, 10s));
  // Another instance believes this worker died.
  f.clock.Advance(10s);
  // Past any lease a heartbeat may have renewed meanwhile.
  auto failed = f.stores.builds->FailExpired(f.clock.Now() + 5s, "worker lost");
  REQUIRE(failed);
  REQUIRE(failed->size() == 1);
  CHECK(failed->front().id == queued->id);
  CHECK(failed->front().state == BuildState::kFailed);
  CHECK(failed->front().reason == "worker lost");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (f.builder.Running() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(f.builder.Running() == 0);
  auto b = f.stores.builds->Get(queued->id);
  REQUIRE(b);
  CHECK(b->state == BuildState::kFailed);
  CHECK(b->reason == "worker lost");
}

TEST_CASE("Sources are checked out into the context and passwords never reach the log", "[build]") {
  testing::FakeRegistry registry("registry.test:5000");
  registry.SetCredentials({"robot", "Reg1stry-Secret-pw"});
  Fixture f(2, &registry);
  Pipeline pipeline = SimplePipeline();
  pipeline.push_back(Entry("download_executable_source",
                           {{"source_type", std::string("git")},
                            {"source_url", std::string("https://git.example.com/app.git")},
                            {"checkoutAs", std::string("app")},
                            {"ref", std::string("main")},
                            {"containerPath", std::string("/opt/app")},
                            {"username", std::string("deploy")},
                            {"password", std::string("G1t-Secret-pw")}}));
  f.AddProject("web", pipeline);
  f.checkout.SetFiles({{"main.sh", "echo hi\n"}});
  f.checkout.EchoPasswordInLog(true);
  f.builder.SetDefault(
      Behave(FakeImageBuilder::Mode::kSucceed,
             {"auth Reg1stry-Secret-pw", "Authorization: Basic cm9ib3Q6UmVnMXN0cnktU2VjcmV0LXB3"}));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  REQUIRE(done.state == BuildState::kSucceeded);

  auto checkouts = f.checkout.Calls();
  REQUIRE(checkouts.size() == 1);
  CHECK(checkouts[0].password == "G1t-Secret-pw");  // the tool needs it
  CHECK(checkouts[0].ref == "main");
  auto calls = f.builder.Calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].request.credentials.password == "Reg1stry-Secret-pw");
  CHECK(calls[0].context_files == std::vector<std::string>{"app/SOURCE.txt", "app/main.sh"});
  CHECK(calls[0].dockerfile_text.find("COPY [\"app\", \"/opt/app\"]") != std::string::npos);

  std::string log = f.WholeLog(done.id);
  CHECK(log.find("G1t-Secret-pw") == std::string::npos);
  CHECK(log.find("Reg1stry-Secret-pw") == std::string::npos);
  CHECK(log.find("cm9ib3Q6UmVnMXN0cnktU2VjcmV0LXB3") == std::string::npos);
  CHECK(log.find("******") != std::string::npos);
}

TEST_CASE("A failing checkout fails the build with its reason", "[build]") {
  Fixture f;
  Pipeline pipeline = SimplePipeline();
  pipeline.push_back(Entry("download_executable_source",
                           {{"source_type", std::string("git")},
                            {"source_url", std::string("https://git.example.com/app.git")},
                            {"checkoutAs", std::string("app")},
                            {"containerPath", std::string("/opt/app")}}));
  f.AddProject("web", pipeline);
  f.checkout.FailWith("git clone failed: exit status 128");
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  CHECK(done.state == BuildState::kFailed);
  CHECK(done.reason.find("git clone failed: exit status 128") != std::string::npos);
  CHECK(f.builder.Calls().empty());
}

TEST_CASE("download type: the checkout is the context and holds the Dockerfile", "[build]") {
  Fixture f;
  Pipeline pipeline{
      Entry("download_dockerfile", {{"sourceType", std::string("git")},
                                    {"sourceUrl", std::string("https://git.example.com/df.git")},
                                    {"checkoutAs", std::string("repo")},
                                    {"dockerfilePath", std::string("docker/Dockerfile")}})};
  f.AddProject("web", pipeline, DockerfileType::kDownload);
  f.checkout.SetFiles({{"docker/Dockerfile", "FROM scratch\nCOPY a /a\n"}, {"a", "x"}});
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  REQUIRE(done.state == BuildState::kSucceeded);
  auto calls = f.builder.Calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].dockerfile_text == "FROM scratch\nCOPY a /a\n");
  CHECK(calls[0].request.dockerfile == calls[0].request.context_dir / "docker/Dockerfile");
  CHECK(calls[0].context_files == std::vector<std::string>{"SOURCE.txt", "a", "docker/Dockerfile"});
}

TEST_CASE("A follower sees log lines while the build runs", "[build]") {
  Fixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kHang, {"pulling base image"}));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.builder.WaitForRunning(1, 10s));
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (seen.find("pulling base image") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    auto chunk = f.Service().ReadLog(queued->id, 0, 1 << 20);
    REQUIRE(chunk);
    CHECK_FALSE(chunk->finished);
    seen = chunk->text;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(seen.find("pulling base image") != std::string::npos);
  f.builder.ReleaseAll();
  CHECK(f.WaitFinished(queued->id).state == BuildState::kSucceeded);
}

}  // namespace
}  // namespace market

namespace market {
namespace {

TEST_CASE("A build whose pipeline cannot render is refused and nothing is queued", "[build]") {
  Fixture f;
  f.AddProject("empty", Pipeline{});  // as /api/project/new leaves it: no base image yet
  f.AddProject("edit", SimplePipeline(), DockerfileType::kEdit);
  f.Service().Start();

  auto empty = f.Service().Enqueue("empty", "v1", "bob");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == Errc::kInvalid);
  CHECK(empty.error().message.starts_with("project empty cannot be built: "));
  CHECK(empty.error().message.find("base_image_choose_from_harbor") != std::string::npos);
  auto edit = f.Service().Enqueue("edit", "v1", "bob");
  REQUIRE_FALSE(edit);
  CHECK(edit.error().code == Errc::kInvalid);
  CHECK(edit.error().message.find("not allowed in a pipeline of type edit") != std::string::npos);

  for (const char* project : {"empty", "edit"}) {
    auto history = f.Service().History(project, 1, 10);
    REQUIRE(history);
    CHECK(history->total_count == 0);
  }
  CHECK(f.builder.Calls().empty());
}

TEST_CASE("The build summary: a page of builds, the latest one and its log", "[build]") {
  Fixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kSucceed, {"STEP 1/2: FROM busybox"}));
  f.Service().Start();
  std::vector<std::int64_t> ids;
  for (const char* tag : {"v1", "v2", "v3"}) {
    auto queued = f.Service().Enqueue("web", tag, "bob");
    REQUIRE(queued);
    REQUIRE(f.WaitFinished(queued->id).state == BuildState::kSucceeded);
    ids.push_back(queued->id);
  }

  auto first = f.Service().Summary({"WEB", "", ""});
  REQUIRE(first);
  CHECK(first->page_number == 1);
  CHECK(first->page_size == kDefaultPageSize);
  CHECK(first->page.total_count == 3);
  REQUIRE(first->page.builds.size() == 3);
  CHECK(first->latest.id == ids.back());
  CHECK(first->latest_log.finished);
  CHECK(first->latest_log.text == f.WholeLog(ids.back()));
  CHECK(first->latest_log.text.find("build succeeded") != std::string::npos);

  // A later page still summarises the newest build.
  auto second = f.Service().Summary({"web", "2", "1"});
  REQUIRE(second);
  REQUIRE(second->page.builds.size() == 1);
  CHECK(second->page.builds[0].id == ids[1]);
  CHECK(second->latest.id == ids.back());
  CHECK(second->latest_log.text == first->latest_log.text);

  auto none = f.Service().Summary({"other", "", ""});
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::kBuildProjectMissing);
  CHECK(none.error().message == "project other has no builds");
  CHECK(f.Service().Summary({"web", "0", ""}).error().code == Errc::kInvalid);
  CHECK(f.Service().Summary({"web", "", "101"}).error().message ==
        "page_size must be at most 100");
  CHECK(f.Service().Summary({"a*b", "", ""}).error().message ==
        "projectName contains special char: *");
}

TEST_CASE("Builds across projects: filters read as typed, a cursor to the next page", "[build]") {
  Fixture f;
  f.AddProject("web");
  f.AddProject("api");
  std::vector<std::int64_t> ids;  // the service is not started: every build stays queued
  for (const char* project : {"web", "api", "web", "api", "web"}) {
    auto queued = f.Service().Enqueue(project, "", "bob");
    REQUIRE(queued);
    ids.push_back(queued->id);
  }
  market::BuildListRequest request;
  request.page_size = "2";
  auto first = f.Service().List(request);
  REQUIRE(first);
  CHECK(first->page_size == 2);
  REQUIRE(first->builds.size() == 2);
  CHECK(first->builds[0].id == ids[4]);
  CHECK(first->builds[1].id == ids[3]);
  REQUIRE(first->next_before);
  CHECK(*first->next_before == ids[3]);
  request.before = std::to_string(*first->next_before);
  auto second = f.Service().List(request);
  REQUIRE(second);
  REQUIRE(second->builds.size() == 2);
  CHECK(second->builds[0].id == ids[2]);
  request.before = std::to_string(*second->next_before);
  auto last = f.Service().List(request);
  REQUIRE(last);
  REQUIRE(last->builds.size() == 1);
  CHECK(last->builds[0].id == ids[0]);
  CHECK_FALSE(last->next_before);  // an exact last page says so: no empty page after it

  market::BuildListRequest filtered;
  filtered.project = "API";  // names are lower-cased as everywhere
  filtered.states = "queued,running,queued";
  filtered.operator_name = "bob";
  auto apis = f.Service().List(filtered);
  REQUIRE(apis);
  REQUIRE(apis->builds.size() == 2);
  CHECK(apis->builds[0].id == ids[3]);
  CHECK(apis->builds[1].id == ids[1]);
  CHECK_FALSE(apis->next_before);
  filtered.states = "succeeded";
  CHECK(f.Service().List(filtered)->builds.empty());
  filtered.project = "ghost";
  filtered.states = "";
  CHECK(f.Service().List(filtered)->builds.empty());

  auto refused = [&](auto set) {
    market::BuildListRequest bad;
    set(bad);
    auto listed = f.Service().List(bad);
    REQUIRE_FALSE(listed);
    CHECK(listed.error().code == Errc::kInvalid);
    return listed.error().message;
  };
  CHECK(refused([](auto& r) { r.states = "done"; }) ==
        "state has an unknown build state 'done' (queued, running, succeeded, failed, "
        "cancelled)");
  CHECK(refused([](auto& r) { r.states = "queued,"; }).starts_with("state has an unknown"));
  CHECK(refused([](auto& r) { r.project = "a*b"; }) == "project contains special char: *");
  CHECK(refused([](auto& r) { r.operator_name = "a b"; }).starts_with("operator"));
  CHECK(refused([](auto& r) { r.before = "0"; }) == "before must be a positive integer, got '0'");
  CHECK(refused([](auto& r) { r.before = "12x"; }).starts_with("before must be"));
  CHECK(refused([](auto& r) { r.page_size = "101"; }) == "page_size must be at most 100");
}

TEST_CASE("Starting and cancelling builds is audited by the service", "[build][audit]") {
  Fixture f;
  f.deps.audit = f.stores.audit.get();
  f.AddProject("web");
  auto queued = f.Service().Enqueue("web", "v1", "carol", Role::kAdmin, ChangeOrigin{"ada", "r-1"});
  REQUIRE(queued);
  auto cancelled = f.Service().Cancel(queued->id, "bob");
  REQUIRE(cancelled);
  // Refused requests are not audited.
  CHECK_FALSE(f.Service().Enqueue("web", "bad tag!", "bob"));
  CHECK_FALSE(f.Service().Cancel(queued->id, "bob"));

  AuditQuery query;
  query.target = "project:web";
  auto page = f.stores.audit->List(query);
  REQUIRE(page);
  REQUIRE(page->entries.size() == 2);  // newest first
  const AuditEntry& start = page->entries[1];
  CHECK(start.action == "build.start");
  CHECK(start.actor == "ada");
  CHECK(start.on_behalf_of == "carol");
  CHECK(start.request_id == "r-1");
  CHECK(start.before_json == "null");
  auto started = nlohmann::json::parse(start.after_json);
  CHECK(started["id"] == queued->id);
  CHECK(started["state"] == "queued");
  CHECK(started["operator"] == "carol");

  const AuditEntry& cancel = page->entries[0];
  CHECK(cancel.action == "build.cancel");
  CHECK(cancel.actor == "bob");
  CHECK(cancel.on_behalf_of == "");
  CHECK(nlohmann::json::parse(cancel.before_json)["state"] == "queued");
  CHECK(nlohmann::json::parse(cancel.after_json)["state"] == "cancelled");
}

TEST_CASE("ReadLog answers up to max_bytes, across the store's pieces", "[build]") {
  Fixture f;
  f.AddProject("web");
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  const std::string line(1000, 'x');
  std::string appended;
  while (appended.size() < (3u << 20)) {
    std::string piece;
    for (int i = 0; i < 64; ++i) piece += line + "\n";
    REQUIRE(f.stores.builds->AppendLog(queued->id, piece));
    appended += piece;
  }
  auto some = f.Service().ReadLog(queued->id, 0, 5000);
  REQUIRE(some);
  CHECK(some->text.size() >= 5000);
  CHECK(some->text == appended.substr(0, some->text.size()));
  auto all = f.Service().ReadLog(queued->id, 0, 4 << 20);
  REQUIRE(all);
  CHECK(all->text == appended);
  CHECK(all->next_offset == static_cast<std::int64_t>(appended.size()));
  CHECK_FALSE(all->finished);  // still queued
}

// --- Log retention ---

// The builds among `ids` whose logs are pruned, as the store says.
std::set<std::int64_t> LogPruned(BuildStore& builds, const std::vector<std::int64_t>& ids) {
  std::set<std::int64_t> pruned;
  for (std::int64_t id : ids) {
    auto build = builds.Get(id);
    REQUIRE(build);
    if (build->log_pruned) pruned.insert(id);
  }
  return pruned;
}

// Waits until exactly `want` of `ids` are pruned; false if that has not happened in 10 s.
bool WaitPruned(BuildStore& builds, const std::vector<std::int64_t>& ids,
                const std::set<std::int64_t>& want) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (LogPruned(builds, ids) != want) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// History of three projects at the fixture's start time T0, the clock then at T0 + 30 days.
struct RetentionHistory {
  explicit RetentionHistory(Fixture& f) : t0(f.clock.Now()) {
    BuildStore& builds = *f.stores.builds;
    for (const char* project : {"web", "api", "old"}) f.AddProject(project);
    auto ended = [&](const std::string& project, const std::string& tag, TimePoint at) {
      auto build = testing::RecordEndedBuild(builds, project, tag, at);
      if (!build) FAIL("recording " << project << ":" << tag << ": " << build.error().message);
      all.push_back(build->id);
      return build->id;
    };
    // A build of another instance, running for a year.
    auto running = [&](const std::string& project, const std::string& tag) {
      auto queued = builds.Enqueue(Queued(project, tag, t0));
      REQUIRE(queued);
      auto claimed = builds.ClaimNext("other-host:9/0", t0, t0 + days(365));
      REQUIRE((claimed && *claimed && (*claimed)->id == queued->id));
      REQUIRE(builds.AppendLog(queued->id, "building\n"));
      all.push_back(queued->id);
      return queued->id;
    };
    web1 = ended("web", "1", t0);
    web2 = ended("web", "2", t0 + days(25));
    web3 = ended("web", "3", t0);
    web4 = ended("web", "4", t0);
    web5 = running("web", "5");
    api1 = ended("api", "1", t0);
    ended("api", "2", t0);
    ended("api", "3", t0);
    // A running and a queued build, both outside the two newest of their project.
    old1 = running("old", "1");
    auto waiting = builds.Enqueue(Queued("old", "2", t0));  // behind old1: never claimed
    REQUIRE(waiting);
    old2 = waiting->id;
    all.push_back(old2);
    for (const char* tag : {"3", "4"}) {
      auto cancelled = builds.Enqueue(Queued("old", tag, t0));
      REQUIRE(cancelled);
      REQUIRE(builds.RequestCancel(cancelled->id, "not needed", t0));
      all.push_back(cancelled->id);
    }
    f.clock.Set(t0 + days(30));
  }

  const TimePoint t0;
  std::vector<std::int64_t> all;
  std::int64_t web1 = 0, web2 = 0, web3 = 0, web4 = 0, web5 = 0, api1 = 0, old1 = 0, old2 = 0;
};

TEST_CASE("Log retention prunes exactly the logs outside both bounds, pass after pass",
          "[build][retention]") {
  auto backend = GENERATE(from_range(testing::AvailableBackends()));
  INFO(testing::ToString(backend));
  Fixture f(1, nullptr, false, backend);
  RetentionHistory h(f);
  f.options.log_retention.keep_builds = 2;
  f.options.log_retention.keep_for = days(10);
  f.options.log_retention.batch = 2;  // several batches a pass
  f.options.log_retention.interval = 50ms;
  f.Service().Start();

  // web3 and web1 are older than 10 days and behind the two newest of web (web5 running, web4);
  // so is api1. web2 ended 5 days ago; old1 runs and old2 waits.
  const std::set<std::int64_t> first = {h.web1, h.web3, h.api1};
  CHECK(WaitPruned(*f.stores.builds, h.all, first));
  std::this_thread::sleep_for(300ms);  // several more passes take nothing else
  CHECK(LogPruned(*f.stores.builds, h.all) == first);

  // Ten days on, web2 is old too.
  f.clock.Advance(days(10));
  std::set<std::int64_t> second = first;
  second.insert(h.web2);
  CHECK(WaitPruned(*f.stores.builds, h.all, second));
  f.Service().Stop();
  CHECK(LogPruned(*f.stores.builds, h.all) == second);

  auto pruned = f.Service().ReadLog(h.web1, 0, 1 << 20);
  REQUIRE(pruned);
  CHECK(pruned->text == kPrunedLogText);
  CHECK(pruned->finished);
  CHECK(f.Service().Get(h.web1)->log_pruned);
  CHECK(f.Service().Get(h.web1)->state == BuildState::kSucceeded);  // the build itself stays
  CHECK(f.WholeLog(h.web4) == "build log\n");
  CHECK(f.WholeLog(h.web5) == "building\n");
  CHECK(f.WholeLog(h.old1) == "building\n");
  CHECK(f.stores.builds->Get(h.old1)->state == BuildState::kRunning);
  CHECK(f.stores.builds->Get(h.old2)->state == BuildState::kQueued);
}

TEST_CASE("Log retention with both bounds at 0 keeps every log", "[build][retention]") {
  Fixture f(1);
  RetentionHistory h(f);
  f.clock.Advance(days(300));  // the other host's leases still run
  f.options.log_retention.keep_builds = 0;
  f.options.log_retention.keep_for = days(0);
  f.options.log_retention.interval = 20ms;
  f.Service().Start();
  std::this_thread::sleep_for(300ms);
  f.Service().Stop();
  CHECK(LogPruned(*f.stores.builds, h.all).empty());
  CHECK(f.WholeLog(h.web1) == "build log\n");
}

// --- Events ---

// A fixture whose service publishes to a recording sink.
struct PublishingFixture : Fixture {
  explicit PublishingFixture(testing::Backend backend = testing::Backend::kSqlite)
      : Fixture(2, nullptr, false, backend) {
    deps.events = &events;
  }
  testing::RecordingEventSink events;
};

TEST_CASE("A successful build is heard queued, started, succeeded, then its tag pushed",
          "[build][events]") {
  PublishingFixture f;
  f.AddProject("web");
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  REQUIRE(done.state == BuildState::kSucceeded);
  REQUIRE(f.events.WaitForCount(4, 10s));

  auto heard = f.events.Events();
  REQUIRE(heard.size() == 4);
  CHECK(f.events.Types() ==
        std::vector<EventType>{EventType::kBuildQueued, EventType::kBuildStarted,
                               EventType::kBuildSucceeded, EventType::kTagPushed});
  std::set<std::string> ids;
  for (const Event& e : heard) {
    ids.insert(e.id);
    CHECK(e.repository == "team/web");  // <cluster>/<project>, no registry host
    CHECK(e.tag == "v1");
    CHECK(e.operator_name == "bob");
    CHECK(e.project == "web");
  }
  CHECK(ids.size() == 4);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(heard[i].build.has_value());
    CHECK(heard[i].build->id == queued->id);
    REQUIRE(heard[i].trigger.has_value());
    CHECK(heard[i].trigger->kind == "manual");
  }
  CHECK(heard[0].build->state == BuildState::kQueued);
  CHECK(heard[0].digest.empty());
  CHECK(heard[1].build->state == BuildState::kRunning);
  CHECK(heard[1].build->started_at.has_value());
  CHECK(*heard[2].build == done);  // as the store recorded it
  CHECK(heard[2].digest == done.digest);
  CHECK(heard[3].digest == done.digest);
  CHECK_FALSE(heard[3].build.has_value());

  // Enqueue publishes on the caller's thread; the rest is the worker's.
  auto threads = f.events.Threads();
  CHECK(threads[0] == std::this_thread::get_id());
  CHECK(threads[1] != std::this_thread::get_id());
  CHECK(threads[2] == threads[1]);
  CHECK(threads[3] == threads[1]);
}

TEST_CASE("A failed build is heard failed, with its reason, and no tag is pushed",
          "[build][events]") {
  PublishingFixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kFail, {}, "buildah bud failed"));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.WaitFinished(queued->id).state == BuildState::kFailed);
  REQUIRE(f.events.WaitForCount(3, 10s));
  f.Service().Stop();  // nothing more can be published
  CHECK(f.events.Types() == std::vector<EventType>{EventType::kBuildQueued,
                                                   EventType::kBuildStarted,
                                                   EventType::kBuildFailed});
  const Event failed = f.events.Events().back();
  REQUIRE(failed.build.has_value());
  CHECK(failed.build->reason == "buildah bud failed");
  CHECK(failed.digest.empty());
}

TEST_CASE("A build cancelled while queued is heard cancelled, from the cancelling thread",
          "[build][events]") {
  PublishingFixture f;
  f.AddProject("web");
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.Service().Cancel(queued->id, "carol"));
  CHECK_FALSE(f.Service().Cancel(queued->id, "carol"));  // already ended: nothing more

  CHECK(f.events.Types() ==
        std::vector<EventType>{EventType::kBuildQueued, EventType::kBuildCancelled});
  const Event cancelled = f.events.Events().back();
  REQUIRE(cancelled.build.has_value());
  CHECK(cancelled.build->id == queued->id);
  CHECK(cancelled.build->state == BuildState::kCancelled);
  CHECK(cancelled.build->reason == "cancelled by carol");
  CHECK(cancelled.operator_name == "bob");  // the build's operator
  for (const auto& thread : f.events.Threads()) CHECK(thread == std::this_thread::get_id());
}

TEST_CASE("A build cancelled while running is heard cancelled once it stopped", "[build][events]") {
  PublishingFixture f;
  f.AddProject("web");
  f.builder.SetDefault(Behave(FakeImageBuilder::Mode::kHang));
  f.Service().Start();
  auto queued = f.Service().Enqueue("web", "v1", "bob");
  REQUIRE(queued);
  REQUIRE(f.builder.WaitForRunning(1, 10s));
  auto requested = f.Service().Cancel(queued->id, "carol");
  REQUIRE(requested);
  CHECK(requested->state == BuildState::kRunning);  // not ended yet: not published yet
  REQUIRE(f.WaitFinished(queued->id).state == BuildState::kCancelled);
  REQUIRE(f.events.WaitForCount(3, 10s));
  f.Service().Stop();
  CHECK(f.events.Types() == std::vector<EventType>{EventType::kBuildQueued,
                                                   EventType::kBuildStarted,
                                                   EventType::kBuildCancelled});
}

// The build.failed events `sink` heard.
std::vector<Event> FailedEvents(const testing::RecordingEventSink& sink) {
  std::vector<Event> failed;
  for (const Event& e : sink.Events()) {
    if (e.type == EventType::kBuildFailed) failed.push_back(e);
  }
  return failed;
}

TEST_CASE("A build whose worker is gone is heard failed once, from the instance that failed it",
          "[build][events]") {
  auto backend = GENERATE(from_range(testing::AvailableBackends()));
  INFO(testing::ToString(backend));
  PublishingFixture f(backend);
  f.options.lease = 200ms;  // each instance looks for expired leases every 100 ms
  f.AddProject("web");
  auto queued = f.stores.builds->Enqueue(Queued("web", "v1", f.clock.Now()));
  REQUIRE(queued);
  const auto now = f.clock.Now();
  auto claimed = f.stores.builds->ClaimNext("other-host:7/0", now, now + 30s);
  REQUIRE((claimed && *claimed));

  // Two instances share the queue; either may notice first, only one may tell.
  BuildServiceOptions second_options = f.options;
  second_options.worker_prefix = "second-host:2";
  testing::RecordingEventSink second_events;
  BuildDependencies second_deps = f.deps;
  second_deps.events = &second_events;
  BuildService second(second_deps, second_options);
  f.Service().Start();
  second.Start();
  CHECK(f.events.Events().empty());  // its lease still runs
  CHECK(second_events.Events().empty());

  f.clock.Advance(31s);  // the other host never renews it
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (f.events.Events().empty() && second_events.Events().empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  std::this_thread::sleep_for(500ms);  // several more rounds of both instances' expiry checks
  CHECK(f.stores.builds->FailExpired(f.clock.Now() + 1s, "again")->empty());
  f.Service().Stop();
  second.Stop();

  std::vector<Event> heard = FailedEvents(f.events);
  for (const Event& e : FailedEvents(second_events)) heard.push_back(e);
  CHECK(f.events.Events().size() + second_events.Events().size() == 1);  // nothing but that
  REQUIRE(heard.size() == 1);
  const Event& failed = heard.front();
  REQUIRE(failed.build.has_value());
  Build stored = f.WaitFinished(queued->id);
  CHECK(stored.state == BuildState::kFailed);
  CHECK(stored.reason.find("lease expired") != std::string::npos);
  CHECK(*failed.build == stored);  // as the store recorded it, reason and finished_at included
  CHECK(failed.occurred_at == stored.finished_at);
  CHECK(failed.repository == "team/web");
  CHECK(failed.project == "web");
  CHECK(failed.tag == "v1");
  CHECK(failed.operator_name == "bob");
}

TEST_CASE("A restarted instance is heard failing what its previous life left running",
          "[build][events]") {
  auto backend = GENERATE(from_range(testing::AvailableBackends()));
  INFO(testing::ToString(backend));
  PublishingFixture f(backend);
  f.AddProject("web");
  f.AddProject("live");
  auto left = f.stores.builds->Enqueue(Queued("web", "v1", f.clock.Now()));
  auto alive = f.stores.builds->Enqueue(Queued("live", "v1", f.clock.Now()));
  REQUIRE(left);
  REQUIRE(alive);
  const auto now = f.clock.Now();
  // This instance's previous life ("test-host:1"), with its lease still running; and a live host.
  auto first = f.stores.builds->ClaimNext("test-host:1/0", now, now + 30s);
  REQUIRE((first && *first));
  REQUIRE((*first)->id == left->id);
  auto second = f.stores.builds->ClaimNext("live-host:3/0", now, now + 30s);
  REQUIRE((second && *second));

  f.Service().Start();  // fails and publishes before it returns, on the starting thread
  REQUIRE(f.events.Events().size() == 1);
  const Event failed = f.events.Events().front();
  CHECK(f.events.Threads().front() == std::this_thread::get_id());
  CHECK(failed.type == EventType::kBuildFailed);
  REQUIRE(failed.build.has_value());
  CHECK(failed.build->id == left->id);
  CHECK(failed.build->state == BuildState::kFailed);
  CHECK(failed.build->reason == "worker restarted while the build ran");
  CHECK(failed.build->finished_at == now);
  CHECK(failed.repository == "team/web");
  CHECK(failed.project == "web");

  // Expiry checks later find it ended: it is not heard again.
  f.clock.Advance(10s);
  CHECK(f.stores.builds->FailExpired(f.clock.Now(), "lease expired")->empty());
  f.Service().Stop();
  CHECK(f.events.Types() == std::vector<EventType>{EventType::kBuildFailed});
  CHECK(f.stores.builds->Get(alive->id)->state == BuildState::kRunning);
}

TEST_CASE("Refused build requests publish nothing", "[build][events]") {
  PublishingFixture f;
  f.AddProject("web");
  CHECK_FALSE(f.Service().Enqueue("nope", "v1", "bob"));
  CHECK_FALSE(f.Service().Enqueue("web", "bad tag!", "bob"));
  CHECK_FALSE(f.Service().Cancel(999999, "carol"));
  f.options.disabled_reason = "no sandbox";
  BuildService disabled(f.deps, f.options);
  CHECK_FALSE(disabled.Enqueue("web", "v1", "bob"));
  CHECK(f.events.Events().empty());
}

}  // namespace
}  // namespace market
