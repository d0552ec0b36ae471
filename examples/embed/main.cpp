// Embeds libmarket: registers a plugin of its own, renders a project's Dockerfile, and runs a
// build through the queue with a builder of its own choosing (one that writes the Dockerfile it
// is given to a folder instead of building an image).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "market/build_service.hpp"
#include "market/plugin_registry.hpp"
#include "market/project_service.hpp"
#include "market/store.hpp"

namespace {

// `timezone`: sets TZ in the image, an attribute `zone` like "Asia/Shanghai".
class TimezonePlugin final : public market::Plugin {
 public:
  TimezonePlugin() {
    schema_.name = "timezone";
    schema_.title_en = "Time zone";
    schema_.title_zh = "时区";
    schema_.attributes.push_back({.name = "zone",
                                  .kind = market::AttributeKind::kString,
                                  .required = true,
                                  .help_en = "IANA zone name, e.g. Asia/Shanghai",
                                  .help_zh = "IANA 时区名，例如 Asia/Shanghai"});
  }
  const market::PluginSchema& Schema() const override { return schema_; }
  market::Result<void> Validate(const market::PluginInstance& entry) const override {
    const auto& zone = std::get<std::string>(entry.attributes.at("zone"));
    for (char c : zone) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-') {
        return market::Fail(market::Errc::kInvalid, "timezone.zone: letters, digits, / _ - only");
      }
    }
    return {};
  }
  market::Result<void> Render(const market::PluginInstance& entry,
                              market::RenderContext& out) const override {
    out.instructions.push_back("ENV TZ=\"" + std::get<std::string>(entry.attributes.at("zone")) +
                               "\"");
    return {};
  }

 private:
  market::PluginSchema schema_;
};

// The builder this program chose: keeps the Dockerfile and reports a made-up digest.
class DockerfileCollector final : public market::ImageBuilder {
 public:
  explicit DockerfileCollector(std::filesystem::path out) : out_(std::move(out)) {}
  market::Result<market::ImageBuildOutcome> BuildAndPush(const market::ImageBuildRequest& request,
                                                         const market::LogLineFn& log,
                                                         std::stop_token) override {
    const auto dockerfile = request.dockerfile.is_absolute()
                                ? request.dockerfile
                                : request.context_dir / request.dockerfile;
    std::filesystem::copy_file(dockerfile, out_ / "Dockerfile",
                               std::filesystem::copy_options::overwrite_existing);
    log("collected Dockerfile for " + request.image);
    return market::ImageBuildOutcome{.digest = "sha256:" + std::string(64, '0'), .size = 0};
  }

 private:
  std::filesystem::path out_;
};

// A registry that only names where images would go.
class NamedRegistry final : public market::Registry {
 public:
  market::Result<market::Paged<market::RegistryProject>> ListProjects(std::string_view,
                                                                      market::RegistryPage) override {
    return market::Paged<market::RegistryProject>{};
  }
  market::Result<market::Paged<market::RegistryRepository>> ListRepositories(
      std::int64_t, std::string_view, market::RegistryPage) override {
    return market::Paged<market::RegistryRepository>{};
  }
  market::Result<market::Paged<market::RegistryTag>> ListTags(std::string_view,
                                                              market::RegistryPage) override {
    return market::Paged<market::RegistryTag>{};
  }
  market::Result<market::RegistryManifest> GetManifest(std::string_view, std::string_view) override {
    return market::Fail(market::Errc::kNotFound, "no manifests here");
  }
  market::Result<void> DeleteTag(std::string_view, std::string_view, bool) override { return {}; }
  market::Result<void> DeleteManifest(std::string_view, std::string_view) override { return {}; }
  market::Result<void> EnsureProject(std::string_view) override { return {}; }
  market::Result<void> Ping() override { return {}; }
  std::string PushHost() const override { return "registry.example.com"; }
  bool TlsVerify() const override { return true; }
  const market::RegistryCredentials& Credentials() const override { return credentials_; }

 private:
  market::RegistryCredentials credentials_;
};

int Check(const market::Error& error) {
  std::cerr << "error " << static_cast<int>(error.code) << ": " << error.message << "\n";
  return 1;
}

}  // namespace

int main() {
  const auto dir = std::filesystem::temp_directory_path() / "market-embed-example";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "out");

  auto stores = market::OpenStores({.url = "sqlite:" + (dir / "market.db").string()});
  if (!stores) return Check(stores.error());

  auto plugins = market::MakeBuiltinPluginRegistry();
  if (auto added = plugins->Add(std::make_unique<TimezonePlugin>()); !added) {
    return Check(added.error());
  }

  market::SystemClock clock;
  // Changes are audited as the server audits them.
  market::ProjectService projects(*stores->projects, clock, plugins.get(),
                                  {.audit_log = stores->audit.get()});
  market::SaveRequest save;
  save.name = "hello";
  save.add_or_update = "add";
  save.operator_name = "embedder";
  save.pipeline = {
      {"base_image_choose_from_harbor", {{"handleInput", std::string("debian:bookworm-slim")}}},
      {"timezone", {{"zone", std::string("Asia/Shanghai")}}},
      {"run", {{"value", std::vector<std::string>{"echo hello > /hello"}}}},
  };
  auto saved = projects.Save(save);
  if (!saved) return Check(saved.error());

  auto rendered = plugins->Render(saved->define_type, saved->pipeline);
  if (!rendered) return Check(rendered.error());
  std::cout << "rendered:\n" << rendered->text;

  DockerfileCollector builder(dir / "out");
  NamedRegistry registry;
  market::BuildDependencies deps{.projects = stores->projects.get(),
                                 .builds = stores->builds.get(),
                                 .plugins = plugins.get(),
                                 .builder = &builder,
                                 .checkout = nullptr,
                                 .registry = &registry,
                                 .clock = &clock,
                                 .audit = stores->audit.get()};
  market::BuildService builds(deps, {.workers = 1, .workspace = dir / "workspace"});
  builds.Start();
  auto queued = builds.Enqueue("hello", "v1", "embedder");
  if (!queued) return Check(queued.error());

  for (int i = 0; i < 200; ++i) {
    auto build = builds.Get(queued->id);
    if (!build) return Check(build.error());
    if (market::IsFinished(build->state)) {
      builds.Stop();
      std::cout << "build " << build->id << " " << market::ToString(build->state) << ": "
                << build->image << "\n";
      std::ifstream collected(dir / "out" / "Dockerfile");
      std::string first_line;
      std::getline(collected, first_line);
      std::filesystem::remove_all(dir);
      return build->state == market::BuildState::kSucceeded &&
                     first_line == "FROM debian:bookworm-slim"
                 ? 0
                 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::cerr << "build did not finish\n";
  return 1;
}
