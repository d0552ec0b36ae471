#pragma once
// What a BuildService stands on in the service tests: the real SQLite stores, the built-in
// plugins and the fake builder, checkout, registry and clock. A test's fixture derives from it
// and adds the services it tests; tag protection and events are each test's own choice.

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "market/build_service.hpp"
#include "market/plugin_registry.hpp"
#include "market/project.hpp"
#include "market/testing/fake_clock.hpp"
#include "market/testing/fake_image_builder.hpp"
#include "market/testing/fake_registry.hpp"
#include "market/testing/fake_source_checkout.hpp"
#include "support/test_stores.hpp"

namespace market::testing {

struct BuildWorld {
  BuildWorld() : db(Backend::kSqlite) {
    auto opened = db.Open();
    REQUIRE(opened);
    stores = std::move(*opened);
  }

  // Every dependency of a BuildService but tag protection and events.
  BuildDependencies Dependencies() {
    BuildDependencies deps;
    deps.projects = stores.projects.get();
    deps.builds = stores.builds.get();
    deps.plugins = plugins.get();
    deps.builder = &builder;
    deps.checkout = &checkout;
    deps.registry = &registry;
    deps.clock = &clock;
    return deps;
  }

  BuildServiceOptions Options(std::string worker_prefix, int workers = 1) {
    BuildServiceOptions options;
    options.workers = workers;
    options.workspace = workspace.path() / "ws";
    options.worker_prefix = std::move(worker_prefix);
    options.poll_interval = std::chrono::milliseconds(20);
    return options;
  }

  // A project of Cluster "team", made by alice, with `pipeline`.
  void InsertProject(const std::string& name, Pipeline pipeline) {
    Project p;
    p.name = name;
    p.creator = "alice";
    p.create_time = clock.Now();
    p.last_modify_time = clock.Now();
    p.last_modify_operator = "alice";
    p.cluster = "team";
    p.define_type = DockerfileType::kTool;
    p.pipeline = std::move(pipeline);
    REQUIRE(stores.projects->Insert(p));
  }

  TestDatabase db;
  Stores stores;
  FakeClock clock;
  std::unique_ptr<PluginRegistry> plugins = MakeBuiltinPluginRegistry();
  FakeImageBuilder builder;
  FakeSourceCheckout checkout;
  FakeRegistry registry{"registry.test:5000"};
  TempDir workspace;
};

}  // namespace market::testing
