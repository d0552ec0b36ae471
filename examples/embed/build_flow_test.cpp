// A unit test an embedder writes with market::testing: ProjectService saves a project,
// BuildService queues a build of it, and the fakes stand in for the image builder, the source
// checkout, the registry and the clock. Every check that fails is printed and fails the process.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include "market/build_service.hpp"
#include "market/plugin_registry.hpp"
#include "market/project_service.hpp"
#include "market/store.hpp"
#include "market/testing/fake_clock.hpp"
#include "market/testing/fake_image_builder.hpp"
#include "market/testing/fake_registry.hpp"
#include "market/testing/fake_source_checkout.hpp"

namespace {

int failures = 0;

void Check(bool ok, std::string_view what) {
  if (!ok) {
    std::cerr << "FAILED: " << what << "\n";
    ++failures;
  }
}

std::string WholeLog(market::BuildService& builds, std::int64_t id) {
  std::string text;
  std::int64_t offset = 0;
  for (;;) {
    auto chunk = builds.ReadLog(id, offset, 1 << 20);
    if (!chunk) return text;
    text += chunk->text;
    if (chunk->next_offset == offset) return text;
    offset = chunk->next_offset;
  }
}

}  // namespace

int main() {
  using namespace std::chrono_literals;
  const auto dir = std::filesystem::temp_directory_path() / "market-embed-build-flow-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  // The stores are real (SQLite in a temp folder): builds refer to their project in the database.
  auto stores = market::OpenStores({.url = "sqlite:" + (dir / "market.db").string()});
  if (!stores) {
    std::cerr << "OpenStores: " << stores.error().message << "\n";
    return 1;
  }
  auto plugins = market::MakeBuiltinPluginRegistry();
  market::testing::FakeClock clock;
  market::testing::FakeRegistry registry("registry.test:5000");
  market::testing::FakeSourceCheckout checkout;
  market::testing::FakeImageBuilder builder;
  builder.SetDefault({.mode = market::testing::FakeImageBuilder::Mode::kSucceed,
                      .lines = {"STEP 1/2: FROM registry.test:5000/base/busybox:1",
                                "STEP 2/2: RUN echo built"}});

  market::ProjectService projects(*stores->projects, clock, plugins.get());
  market::SaveRequest save;
  save.name = "hello";
  save.cluster = "team";
  save.add_or_update = "add";
  save.operator_name = "alice";
  save.pipeline = {
      {"base_image_choose_from_harbor",
       {{"handleInput", std::string("registry.test:5000/base/busybox:1")}}},
      {"run", {{"value", std::vector<std::string>{"echo built"}}}},
  };
  auto saved = projects.Save(save);
  Check(saved.has_value(), "the project is saved");

  market::BuildService builds({.projects = stores->projects.get(),
                               .builds = stores->builds.get(),
                               .plugins = plugins.get(),
                               .builder = &builder,
                               .checkout = &checkout,
                               .registry = &registry,
                               .clock = &clock},
                              {.workers = 1,
                               .workspace = dir / "workspace",
                               .worker_prefix = "embed-test:1",
                               .poll_interval = 20ms});
  builds.Start();
  auto queued = builds.Enqueue("hello", "v1", "alice");
  Check(queued.has_value(), "the build is queued");
  if (!queued) {
    std::cerr << "Enqueue: " << queued.error().message << "\n";
    return 1;
  }
  Check(queued->image == "registry.test:5000/team/hello:v1", "the image is named after the registry");

  market::Build build = *queued;
  for (auto deadline = std::chrono::steady_clock::now() + 15s;
       !market::IsFinished(build.state) && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(20ms);
    if (auto current = builds.Get(queued->id)) build = *current;
  }
  builds.Stop();

  Check(build.state == market::BuildState::kSucceeded, "the build succeeded");
  // The fake builder's first digest and size.
  Check(build.digest == "sha256:" + std::string(63, '0') + "1", "the digest is the fake builder's");
  Check(build.size == 1001, "the size is the fake builder's");

  const auto calls = builder.Calls();
  Check(calls.size() == 1, "the fake builder ran once");
  if (!calls.empty()) {
    Check(calls.front().request.image == build.image, "the builder was given the build's image");
    Check(calls.front().dockerfile_text.starts_with("FROM registry.test:5000/base/busybox:1"),
          "the builder was given the project's rendered Dockerfile");
  }
  const auto log = WholeLog(builds, build.id);
  Check(log.find("STEP 1/2: FROM registry.test:5000/base/busybox:1") != std::string::npos &&
            log.find("STEP 2/2: RUN echo built") != std::string::npos,
        "the build's log holds the fake builder's lines");

  std::filesystem::remove_all(dir);
  if (failures != 0) {
    std::cerr << failures << " check(s) failed\n";
    return 1;
  }
  std::cout << "build flow: " << market::ToString(build.state) << " " << build.digest << "\n";
  return 0;
}
