#include "market/buildah_builder.hpp"

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "buildah/base64.hpp"
#include "log.hpp"
#include "process/process.hpp"

namespace market {

namespace {

class BuildahBuilder final : public ImageBuilder {
 public:
  explicit BuildahBuilder(BuildahOptions options) : options_(std::move(options)) {}

  // ImageBuilder
  Result<ImageBuildOutcome> BuildAndPush(const ImageBuildRequest& request, const LogLineFn& log,
                                         std::stop_token stop) override;

 private:
  // `buildah --storage-driver D [--root R] [--runroot RR]`: every call uses the same storage.
  std::vector<std::string> Command() const;
  Result<void> RunStep(std::string_view what, std::vector<std::string> argv, const LogLineFn& log,
                       std::stop_token stop) const;
  Result<std::int64_t> LocalImageSize(const std::string& image, const LogLineFn& log) const;
  void RemoveLocalImage(const std::string& image, const LogLineFn& log) const;

  BuildahOptions options_;
};

std::string AuthFileJson(const ImageBuildRequest& request) {
  nlohmann::json auths = nlohmann::json::object();
  if (!request.credentials.username.empty()) {
    auths[request.registry_host] = {
        {"auth", Base64Encode(request.credentials.username + ":" + request.credentials.password)}};
  }
  return nlohmann::json{{"auths", auths}}.dump();
}

std::vector<std::string> BuildahBuilder::Command() const {
  std::vector<std::string> argv{options_.buildah_path, "--storage-driver", options_.storage_driver};
  if (!options_.root.empty()) {
    argv.push_back("--root");
    argv.push_back(options_.root.string());
  }
  if (!options_.runroot.empty()) {
    argv.push_back("--runroot");
    argv.push_back(options_.runroot.string());
  }
  return argv;
}

Result<void> BuildahBuilder::RunStep(std::string_view what, std::vector<std::string> argv,
                                     const LogLineFn& log, std::stop_token stop) const {
  process::Spec spec;
  spec.argv = std::move(argv);
  // Nothing from the server's own environment may redirect credentials or storage.
  spec.unset_env = {"REGISTRY_AUTH_FILE", "DOCKER_CONFIG"};
  auto outcome = process::Run(spec, log, stop);
  if (!outcome) return std::unexpected(outcome.error());
  if (outcome->cancelled) return Fail(Errc::kInternal, "cancelled");
  if (!outcome->Succeeded()) {
    return Fail(Errc::kInternal, fmt::format("buildah {} failed: {}", what, outcome->Describe()));
  }
  return {};
}

// The local image's config plus layers. A fallback only: the pushed (compressed) sizes are the
// registry's, which the build service reads from the pushed manifest.
Result<std::int64_t> BuildahBuilder::LocalImageSize(const std::string& image,
                                                    const LogLineFn& log) const {
  process::Spec spec;
  spec.argv = Command();
  for (const char* a : {"inspect", "--type", "image", "--format", "{{.Manifest}}"}) {
    spec.argv.push_back(a);
  }
  spec.argv.push_back(image);
  spec.timeout = std::chrono::seconds(60);
  auto captured = process::RunCapture(spec, log, {});
  if (!captured) return std::unexpected(captured.error());
  if (!captured->outcome.Succeeded()) {
    return Fail(Errc::kInternal, "buildah inspect failed: " + captured->outcome.Describe());
  }
  auto manifest = nlohmann::json::parse(captured->output, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object()) {
    return Fail(Errc::kInternal, "buildah inspect: unreadable manifest");
  }
  std::int64_t size = 0;
  if (auto it = manifest.find("config"); it != manifest.end() && it->is_object()) {
    size += it->value("size", std::int64_t{0});
  }
  if (auto it = manifest.find("layers"); it != manifest.end() && it->is_array()) {
    for (const auto& layer : *it) size += layer.value("size", std::int64_t{0});
  }
  return size;
}

void BuildahBuilder::RemoveLocalImage(const std::string& image, const LogLineFn& log) const {
  process::Spec spec;
  spec.argv = Command();
  spec.argv.push_back("rmi");
  spec.argv.push_back(image);
  spec.timeout = std::chrono::seconds(120);
  // The image is in the registry now; keeping it would grow vfs storage with every build.
  auto outcome = process::Run(spec, [](std::string_view) {}, {});
  if (!outcome || !outcome->Succeeded()) {
    log(fmt::format("warning: could not remove the local image {}", image));
    MARKET_LOG_WARN("buildah rmi {} failed", image);
  }
}

Result<ImageBuildOutcome> BuildahBuilder::BuildAndPush(const ImageBuildRequest& request,
                                                       const LogLineFn& log, std::stop_token stop) {
  auto dir = process::PrivateDir::Create("market-buildah-");
  if (!dir) return std::unexpected(dir.error());
  const auto auth_file = dir->path() / "auth.json";
  const auto digest_file = dir->path() / "digest";
  // Credentials reach buildah only through this 0600 file in a 0700 dir, never argv.
  if (auto ok = process::WriteNewFile(auth_file, AuthFileJson(request), 0600); !ok) {
    return std::unexpected(ok.error());
  }
  const std::string tls = request.tls_verify ? "--tls-verify=true" : "--tls-verify=false";
  std::filesystem::path dockerfile = request.dockerfile;
  if (dockerfile.is_relative()) dockerfile = request.context_dir / dockerfile;

  auto bud = Command();
  for (std::string a :
       {std::string("bud"), std::string("--isolation"), options_.isolation, tls,
        std::string("--authfile"), auth_file.string(), std::string("-f"), dockerfile.string(),
        std::string("-t"), request.image, request.context_dir.string()}) {
    bud.push_back(std::move(a));
  }
  log(fmt::format("$ buildah bud -f {} -t {}", dockerfile.filename().string(), request.image));
  if (auto ok = RunStep("bud", std::move(bud), log, stop); !ok) return std::unexpected(ok.error());

  auto push = Command();
  for (std::string a : {std::string("push"), tls, std::string("--authfile"), auth_file.string(),
                        std::string("--digestfile"), digest_file.string(), request.image,
                        "docker://" + request.image}) {
    push.push_back(std::move(a));
  }
  log(fmt::format("$ buildah push {}", request.image));
  auto pushed = RunStep("push", std::move(push), log, stop);
  ImageBuildOutcome outcome;
  if (pushed) {
    std::ifstream in(digest_file);
    std::getline(in, outcome.digest);
    while (!outcome.digest.empty() &&
           std::isspace(static_cast<unsigned char>(outcome.digest.back()))) {
      outcome.digest.pop_back();
    }
    if (auto size = LocalImageSize(request.image, log)) outcome.size = *size;
  }
  RemoveLocalImage(request.image, log);
  if (!pushed) return std::unexpected(pushed.error());
  if (outcome.digest.rfind("sha256:", 0) != 0) {
    return Fail(Errc::kInternal, "buildah push wrote no digest");
  }
  return outcome;
}

}  // namespace

ImageBuilderPtr MakeBuildahBuilder(BuildahOptions options) {
  return std::make_unique<BuildahBuilder>(std::move(options));
}

}  // namespace market
