#pragma once
// The build queue: requests become queued builds; workers claim, stage, build and push them.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "market/build.hpp"
#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/image_builder.hpp"
#include "market/plugin_registry.hpp"
#include "market/project_store.hpp"
#include "market/registry.hpp"
#include "market/source_checkout.hpp"
#include "market/time.hpp"

namespace market {

struct BuildServiceOptions {
  int workers = 2;
  std::filesystem::path workspace = "workspace";
  // Unique per instance; builds are claimed as "PREFIX/N". When it is stable across restarts,
  // Start() fails what the previous life left running at once (else leases recover them).
  std::string worker_prefix;  // empty: host:pid
  std::chrono::milliseconds lease{30000};
  std::chrono::milliseconds poll_interval{500};
  CheckoutLimits checkout_limits;
};

// Everything a build needs; the service does not own these.
struct BuildDependencies {
  ProjectStore* projects = nullptr;
  BuildStore* builds = nullptr;
  const PluginRegistry* plugins = nullptr;
  ImageBuilder* builder = nullptr;
  SourceCheckout* checkout = nullptr;
  Registry* registry = nullptr;  // nullptr: builds are refused with kRegistryNotConfigured
  const Clock* clock = nullptr;
};

class BuildService {
 public:
  BuildService(BuildDependencies deps, BuildServiceOptions options);
  ~BuildService();  // stops the workers
  BuildService(const BuildService&) = delete;
  BuildService& operator=(const BuildService&) = delete;

  // Records a queued build. An empty tag becomes the UTC time "YYYYMMDD-HHMMSS".
  // kBuildProjectMissing, kInvalid (tag), kRegistryNotConfigured.
  Result<Build> Enqueue(std::string_view project, std::string_view tag,
                        std::string_view operator_name);
  Result<Build> Cancel(std::int64_t id, std::string_view operator_name);
  Result<Build> Get(std::int64_t id);
  Result<BuildPage> History(std::string_view project, int page, int page_size);
  Result<LogChunk> ReadLog(std::int64_t id, std::int64_t offset, std::int64_t max_bytes);

  // Finishes builds left running by a dead worker, then starts the workers.
  void Start();
  // Stops claiming; running builds are cancelled and recorded as failed ("server stopping").
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace market
