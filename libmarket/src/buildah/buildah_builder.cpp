#include "market/buildah_builder.hpp"

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "buildah/base64.hpp"
#include "buildah/deferred_image_remover.hpp"
#include "log.hpp"
#include "process/process.hpp"

namespace market {

namespace {

// The longest part of buildah's own error line a build's reason repeats.
constexpr std::size_t kMaxCauseLength = 400;

class BuildahBuilder final : public ImageBuilder {
 public:
  explicit BuildahBuilder(BuildahOptions options)
      : options_(std::move(options)),
        remover_([this](const std::vector<std::string>& images) { RemoveLocalImages(images); },
                 options_.cleanup_quiet_period, options_.cleanup_max_pending) {}

  // ImageBuilder
  Result<ImageBuildOutcome> BuildAndPush(const ImageBuildRequest& request, const LogLineFn& log,
                                         std::stop_token stop) override;

 private:
  // `buildah --storage-driver D [--root R] [--runroot RR]`: every call uses the same storage.
  std::vector<std::string> Command() const;
  Result<void> RunStep(std::string_view what, std::vector<std::string> argv, const LogLineFn& log,
                       std::stop_token stop) const;
  Result<ImageBuildOutcome> BuildAndPushSteps(const ImageBuildRequest& request,
                                                const LogLineFn& log, std::stop_token stop,
                                                bool& built);
  void RemoveLocalImages(const std::vector<std::string>& images) const;
  std::set<std::string> ContainerIds() const;
  void RemoveContainers(const std::set<std::string>& ids) const;

  BuildahOptions options_;
  std::mutex mu_;
  int buds_in_flight_ = 0;
  std::set<std::string> baseline_;  // containers present when the first bud in flight began
  bool leftovers_ = false;          // a bud in flight failed or was killed
  // Declared last: its thread calls RemoveLocalImages, and it must stop before the rest goes.
  DeferredImageRemover remover_;
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
  // buildah ends a failure with "Error: <cause>" (the registry refused the connection, the
  // base image is missing, ...): the build's reason names it, not only the exit status. The
  // service redacts the reason like the log.
  std::string cause;
  auto remember = [&](std::string_view line) {
    log(line);
    if (line.starts_with("Error: ") || line.starts_with("error: ")) {
      // Its innermost cause comes last ("...: dial tcp ...: connection refused"): keep the end.
      cause = line.size() <= kMaxCauseLength
                  ? std::string(line)
                  : "..." + std::string(line.substr(line.size() - kMaxCauseLength));
    }
  };
  auto outcome = process::Run(spec, remember, stop);
  if (!outcome) return std::unexpected(outcome.error());
  if (outcome->cancelled) return Fail(Errc::kInternal, "cancelled");
  if (!outcome->Succeeded()) {
    std::string reason = fmt::format("buildah {} failed: {}", what, outcome->Describe());
    if (!cause.empty()) reason += ": " + cause;
    return Fail(Errc::kInternal, std::move(reason));
  }
  return {};
}

std::set<std::string> BuildahBuilder::ContainerIds() const {
  process::Spec spec;
  spec.argv = Command();
  spec.argv.push_back("containers");
  spec.argv.push_back("--quiet");
  spec.argv.push_back("--notruncate");
  spec.timeout = std::chrono::seconds(60);
  std::set<std::string> ids;
  auto captured = process::RunCapture(spec, {}, {});
  if (!captured || !captured->outcome.Succeeded()) return ids;
  std::size_t start = 0;
  while (start < captured->output.size()) {
    auto end = captured->output.find('\n', start);
    if (end == std::string::npos) end = captured->output.size();
    if (end > start) ids.insert(captured->output.substr(start, end - start));
    start = end + 1;
  }
  return ids;
}

void BuildahBuilder::RemoveContainers(const std::set<std::string>& ids) const {
  if (ids.empty()) return;
  process::Spec spec;
  spec.argv = Command();
  spec.argv.push_back("rm");
  spec.argv.insert(spec.argv.end(), ids.begin(), ids.end());
  spec.timeout = std::chrono::seconds(120);
  auto outcome = process::Run(spec, [](std::string_view) {}, {});
  if (!outcome || !outcome->Succeeded()) MARKET_LOG_WARN("buildah rm of a stopped build failed");
}

void BuildahBuilder::RemoveLocalImages(const std::vector<std::string>& images) const {
  if (images.empty()) return;
  process::Spec spec;
  spec.argv = Command();
  spec.argv.push_back("rmi");
  spec.argv.insert(spec.argv.end(), images.begin(), images.end());
  spec.timeout = std::chrono::seconds(300);
  // The images are in the registry now; keeping them would grow vfs storage with every build.
  auto outcome = process::Run(spec, [](std::string_view) {}, {});
  if (!outcome || !outcome->Succeeded()) {
    MARKET_LOG_WARN("buildah rmi of {} pushed image(s) failed", images.size());
  } else {
    MARKET_LOG_DEBUG("removed {} pushed image(s) from local storage", images.size());
  }
}

Result<ImageBuildOutcome> BuildahBuilder::BuildAndPush(const ImageBuildRequest& request,
                                                       const LogLineFn& log, std::stop_token stop) {
  remover_.BuildStarted();
  bool built = false;
  auto outcome = BuildAndPushSteps(request, log, stop, built);
  // Whether or not the push worked, a built image is only disk space now.
  remover_.BuildEnded(built ? request.image : std::string());
  return outcome;
}

Result<ImageBuildOutcome> BuildahBuilder::BuildAndPushSteps(const ImageBuildRequest& request,
                                                             const LogLineFn& log,
                                                             std::stop_token stop, bool& built) {
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
       {std::string("bud"), std::string("--isolation"), options_.isolation,
        std::string("--format"), options_.format, tls,
        std::string("--authfile"), auth_file.string(), std::string("-f"), dockerfile.string(),
        std::string("-t"), request.image, request.context_dir.string()}) {
    bud.push_back(std::move(a));
  }
  log(fmt::format("$ buildah bud -f {} -t {}", dockerfile.filename().string(), request.image));
  // A bud killed on cancel leaves its working container behind, and nothing names it as this
  // build's. So: containers that appeared while buds of this builder ran are removed once none
  // runs any more; what existed before (someone else's) is kept.
  {
    std::lock_guard lock(mu_);
    if (buds_in_flight_++ == 0) baseline_ = ContainerIds();
  }
  auto bud_outcome = RunStep("bud", std::move(bud), log, stop);
  built = bud_outcome.has_value();
  {
    std::lock_guard lock(mu_);
    if (!built) leftovers_ = true;
    if (--buds_in_flight_ == 0 && leftovers_) {
      leftovers_ = false;
      std::set<std::string> left;
      for (const auto& id : ContainerIds()) {
        if (!baseline_.contains(id)) left.insert(id);
      }
      RemoveContainers(left);
    }
  }
  if (!bud_outcome) return std::unexpected(bud_outcome.error());

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
  }
  // outcome.size stays 0: the build service reads the pushed manifest for the registry's sizes.
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
