#include "market/buildah_builder.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base64.hpp"
#include "build/step_timer.hpp"
#include "buildah/build_sandbox.hpp"
#include "buildah/deferred_image_remover.hpp"
#include "buildah/local_layer_cache.hpp"
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
        layer_cache_(LocalLayerCache::Storage{[this] { return StoredImages(); },
                                              [this](const std::vector<std::string>& ids) {
                                                RemoveLocalImages(ids);
                                              },
                                              [this] { return DiskBytes(options_.root); }},
                     options_.root.empty() ? 0 : options_.cache_max_bytes),
        remover_([this](const std::vector<std::string>& images) { RemoveLocalImages(images); },
                 options_.cleanup_quiet_period, options_.cleanup_max_pending,
                 [this] { TrimLayerCache(); }) {}

  // ImageBuilder
  Result<ImageBuildOutcome> BuildAndPush(const ImageBuildRequest& request, const LogLineFn& log,
                                         std::stop_token stop) override;

 private:
  // `buildah --storage-driver D [--root R] [--runroot RR]`: every call uses the same storage.
  std::vector<std::string> Command() const;
  // `env`: what the step needs (HOME, the per-build registries.conf); `sandbox`, when given, is
  // asked which limit a failed step reached.
  Result<void> RunStep(std::string_view what, std::vector<std::string> argv,
                       std::vector<std::pair<std::string, std::string>> env, const LogLineFn& log,
                       std::stop_token stop, const BuildSandbox* sandbox = nullptr) const;
  // `bud` options of the sandbox: its network, DNS, capabilities and limits.
  std::vector<std::string> SandboxArgs(const BuildSandbox& sandbox) const;
  Result<ImageBuildOutcome> BuildAndPushSteps(const ImageBuildRequest& request,
                                              const LogLineFn& log, std::stop_token stop,
                                              bool& built);
  void RemoveLocalImages(const std::vector<std::string>& images) const;
  // Every image of the storage, intermediate ones included (a layer-cached build's steps).
  std::vector<LocalLayerCache::Image> StoredImages() const;
  void TrimLayerCache();
  std::set<std::string> ContainerIds() const;
  // The manifest digest local storage has for `image` (a base a bud pulled); empty: unknown.
  std::string LocalDigest(const std::string& image) const;
  void RemoveContainers(const std::set<std::string>& ids) const;

  BuildahOptions options_;
  std::mutex mu_;
  int buds_in_flight_ = 0;
  // Containers present before this builder's first bud (someone else's, or a previous life's),
  // listed once: a listing per bud held every bud behind a `buildah containers` process.
  std::optional<std::set<std::string>> baseline_;
  bool leftovers_ = false;          // a bud in flight failed or was killed
  LocalLayerCache layer_cache_;
  // Declared last: its thread calls RemoveLocalImages, and it must stop before the rest goes.
  DeferredImageRemover remover_;
};

SandboxOptions ToSandboxOptions(const BuildahOptions& options) {
  SandboxOptions sandbox;
  sandbox.deny = options.deny_networks;
  sandbox.pids = options.pids;
  sandbox.memory_bytes = options.memory_bytes;
  sandbox.ip_path = options.ip_path;
  sandbox.slirp_path = options.slirp_path;
  return sandbox;
}

// The registries configuration of one build: the system's, with the push registry marked
// insecure when the operator said so, and the operator's other insecure registries. Every
// other registry keeps TLS verification (the flag --tls-verify=false would drop it for all).
std::string RegistriesConf(const ImageBuildRequest& request, const BuildahOptions& options) {
  std::string text;
  if (std::ifstream system("/etc/containers/registries.conf"); system) {
    text.assign(std::istreambuf_iterator<char>(system), std::istreambuf_iterator<char>());
    if (!text.empty() && text.back() != '\n') text.push_back('\n');
  }
  std::vector<std::string> insecure = options.insecure_registries;
  if (!request.tls_verify) insecure.push_back(request.registry_host);
  std::sort(insecure.begin(), insecure.end());
  insecure.erase(std::unique(insecure.begin(), insecure.end()), insecure.end());
  for (const std::string& host : insecure) {
    text += fmt::format("\n[[registry]]\nlocation = {}\ninsecure = true\n",
                        nlohmann::json(host).dump());
  }
  return text;
}

std::string AuthFileJson(const ImageBuildRequest& request) {
  nlohmann::json auths = nlohmann::json::object();
  if (!request.credentials.username.empty()) {
    auths[request.registry_host] = {
        {"auth", Base64Encode(request.credentials.username + ":" + request.credentials.password)}};
  }
  return nlohmann::json{{"auths", auths}}.dump();
}

// `bud` options of the request's layer caching. The cache keys are digests of each step's
// inputs (the parent image, the step's text, the content ADD and COPY read), never the build's
// credentials, which reach buildah only through the auth file.
std::vector<std::string> CacheArgs(const ImageBuildRequest& request, std::chrono::hours ttl) {
  using LayerCache = ImageBuildRequest::LayerCache;
  if (request.layer_cache == LayerCache::kOff) return {};
  std::vector<std::string> args = {"--layers"};
  if (ttl.count() > 0) args.push_back(fmt::format("--cache-ttl={}h", ttl.count()));
  if (request.layer_cache == LayerCache::kRefresh) args.push_back("--no-cache");
  if (!request.cache_repository.empty()) {
    if (request.layer_cache == LayerCache::kUse) {
      args.push_back("--cache-from");
      args.push_back(request.cache_repository);
    }
    args.push_back("--cache-to");
    args.push_back(request.cache_repository);
  }
  return args;
}

// How the build log names the caching.
std::string CacheText(const ImageBuildRequest& request) {
  using LayerCache = ImageBuildRequest::LayerCache;
  switch (request.layer_cache) {
    case LayerCache::kOff:
      return " (no layer cache)";
    case LayerCache::kUse:
      return request.cache_repository.empty()
                 ? " --layers (local cache)"
                 : " --layers --cache-from/--cache-to " + request.cache_repository;
    case LayerCache::kRefresh:
      return request.cache_repository.empty()
                 ? " --layers --no-cache"
                 : " --layers --no-cache --cache-to " + request.cache_repository;
  }
  return {};
}

std::vector<std::string> BuildahBuilder::Command() const {
  std::vector<std::string> argv{options_.buildah_path, "--storage-driver", options_.storage_driver};
  for (const std::string& option : options_.storage_options) {
    argv.push_back("--storage-opt");
    argv.push_back(option);
  }
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
                                     std::vector<std::pair<std::string, std::string>> env,
                                     const LogLineFn& log, std::stop_token stop,
                                     const BuildSandbox* sandbox) const {
  process::Spec spec;
  spec.argv = std::move(argv);
  // Nothing of the server's environment reaches buildah (process::kInheritedEnv): credentials
  // and storage come from the files named here.
  spec.env = std::move(env);
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
  MARKET_ASSIGN_OR_RETURN(auto outcome, process::Run(spec, remember, stop));
  if (outcome.cancelled) return Fail(Errc::kInternal, "cancelled");
  if (!outcome.Succeeded()) {
    std::string reason = fmt::format("buildah {} failed: {}", what, outcome.Describe());
    if (!cause.empty()) reason += ": " + cause;
    if (sandbox != nullptr) {
      if (std::string limit = sandbox->LimitReached(); !limit.empty()) {
        log(limit);
        reason = limit + " (" + reason + ")";
      }
    }
    return Fail(Errc::kInternal, std::move(reason));
  }
  return {};
}

std::vector<std::string> BuildahBuilder::SandboxArgs(const BuildSandbox& sandbox) const {
  std::vector<std::string> args = {
      "--network", "ns:" + sandbox.NetworkNamespace().string(), "--dns", BuildSandbox::kDnsServer,
      // buildah's defaults have neither; dropped again so a step can never change its routes.
      "--cap-drop", "NET_ADMIN", "--cap-drop", "NET_RAW", "--cap-drop", "SYS_ADMIN"};
  if (std::string parent = sandbox.CgroupParent(); !parent.empty()) {
    args.push_back("--cgroup-parent");
    args.push_back(parent);
  }
  if (options_.cpus > 0) {
    constexpr int kPeriod = 100000;
    args.push_back("--cpu-period");
    args.push_back(std::to_string(kPeriod));
    args.push_back("--cpu-quota");
    args.push_back(std::to_string(static_cast<std::int64_t>(options_.cpus * kPeriod)));
  }
  return args;
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

std::string BuildahBuilder::LocalDigest(const std::string& image) const {
  process::Spec spec;
  spec.argv = Command();
  for (std::string a : {std::string("inspect"), std::string("--type"), std::string("image"),
                        std::string("--format"), std::string("{{.FromImageDigest}}"), image}) {
    spec.argv.push_back(std::move(a));
  }
  spec.timeout = std::chrono::seconds(60);
  auto captured = process::RunCapture(spec, {}, {});
  if (!captured || !captured->outcome.Succeeded()) return {};
  std::string digest = captured->output;
  while (!digest.empty() && std::isspace(static_cast<unsigned char>(digest.back()))) {
    digest.pop_back();
  }
  return digest.starts_with("sha256:") ? digest : std::string();
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
  // Pushed images, superseded steps or the layer cache's least recently used: no build needs them.
  auto outcome = process::Run(spec, [](std::string_view) {}, {});
  if (!outcome || !outcome->Succeeded()) {
    MARKET_LOG_WARN("buildah rmi of {} image(s) failed", images.size());
  } else {
    MARKET_LOG_DEBUG("removed {} image(s) from local storage", images.size());
  }
}

std::vector<LocalLayerCache::Image> BuildahBuilder::StoredImages() const {
  process::Spec spec;
  spec.argv = Command();
  for (const char* a : {"images", "--all", "--no-trunc", "--json"}) spec.argv.push_back(a);
  spec.timeout = std::chrono::seconds(120);
  std::vector<LocalLayerCache::Image> images;
  auto captured = process::RunCapture(spec, {}, {});
  if (!captured || !captured->outcome.Succeeded()) {
    MARKET_LOG_WARN("buildah images failed: the layer cache is not trimmed this time");
    return images;
  }
  auto listed = nlohmann::json::parse(captured->output, nullptr, false);
  if (!listed.is_array()) return images;
  std::set<std::string> seen;
  for (const auto& entry : listed) {
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_string()) continue;
    std::string id = entry["id"].get<std::string>();
    if (id.starts_with("sha256:")) id = id.substr(7);
    if (!seen.insert(id).second) continue;  // one entry per name
    std::int64_t created = 0;
    if (auto it = entry.find("created"); it != entry.end() && it->is_number_integer()) {
      created = it->get<std::int64_t>();
    }
    images.push_back({std::move(id), created});
  }
  return images;
}

void BuildahBuilder::TrimLayerCache() {
  auto outcome = layer_cache_.Trim();
  if (outcome.removed > 0) {
    MARKET_LOG_INFO("layer cache: removed {} least recently used image(s), {} -> {} bytes "
                    "(build-cache-size {})",
                    outcome.removed, outcome.bytes_before, outcome.bytes_after,
                    options_.cache_max_bytes);
  }
}

Result<ImageBuildOutcome> BuildahBuilder::BuildAndPush(const ImageBuildRequest& request,
                                                       const LogLineFn& log, std::stop_token stop) {
  remover_.BuildStarted();
  bool built = false;
  auto outcome = BuildAndPushSteps(request, log, stop, built);
  if (request.layer_cache == ImageBuildRequest::LayerCache::kOff) {
    // Whether or not the push worked, a built image is only disk space now.
    remover_.BuildEnded(built ? request.image : std::string());
  } else {
    // The image is the last step's: it stays as the cache of the next build, within the bound.
    remover_.BuildEnded(std::string());
    remover_.RequestTrim();
  }
  return outcome;
}

Result<ImageBuildOutcome> BuildahBuilder::BuildAndPushSteps(const ImageBuildRequest& request,
                                                            const LogLineFn& log,
                                                            std::stop_token stop, bool& built) {
  StepTimer timer;
  MARKET_ASSIGN_OR_RETURN(auto dir, process::PrivateDir::Create("market-buildah-"));
  const auto auth_file = dir.path() / "auth.json";
  const auto digest_file = dir.path() / "digest";
  // Credentials reach buildah only through this 0600 file in a 0700 dir, never argv.
  MARKET_RETURN_IF_ERROR(process::WriteNewFile(auth_file, AuthFileJson(request), 0600));
  const auto registries_conf = dir.path() / "registries.conf";
  MARKET_RETURN_IF_ERROR(
      process::WriteNewFile(registries_conf, RegistriesConf(request, options_), 0600));
  // HOME is the private folder: no configuration of the service account applies.
  const std::vector<std::pair<std::string, std::string>> env = {
      {"HOME", dir.path().string()},
      {"CONTAINERS_REGISTRIES_CONF", registries_conf.string()},
  };
  std::filesystem::path dockerfile = request.dockerfile;
  if (dockerfile.is_relative()) dockerfile = request.context_dir / dockerfile;

  std::optional<BuildSandbox> sandbox;
  if (options_.isolation == "oci") {
    MARKET_ASSIGN_OR_RETURN(auto made, BuildSandbox::Create(ToSandboxOptions(options_)));
    sandbox.emplace(std::move(made));
    timer.Mark("sandbox");
    log(fmt::format("sandbox: RUN steps in runc with a private network; refused: {}",
                    fmt::join(sandbox->Refused(), ", ")));
  } else {
    log("WARNING: build-isolation is chroot: RUN steps share this host's network and can reach "
        "its loopback services; use build-isolation oci");
  }

  auto bud = Command();
  for (std::string a :
       {std::string("bud"), std::string("--isolation"), options_.isolation, std::string("--format"),
        options_.format, std::string("--authfile"), auth_file.string(), std::string("-f"),
        dockerfile.string(), std::string("-t"), request.image}) {
    bud.push_back(std::move(a));
  }
  if (sandbox) {
    for (auto& a : SandboxArgs(*sandbox)) bud.push_back(std::move(a));
  }
  for (auto& a : CacheArgs(request, options_.cache_ttl)) bud.push_back(std::move(a));
  bud.push_back(request.context_dir.string());
  log(fmt::format("$ buildah bud -f {} -t {}{}", dockerfile.filename().string(), request.image,
                  CacheText(request)));
  // A bud killed on cancel leaves its working container behind, and nothing names it as this
  // build's. So: after a failed bud, the containers that are not in the baseline are removed
  // once no bud of this builder runs any more; what existed before its first bud is kept.
  {
    std::lock_guard lock(mu_);
    if (!baseline_) baseline_ = ContainerIds();
    ++buds_in_flight_;
  }
  timer.Mark("containers listed");
  // The images the bud reused or made are what the layer cache keeps longest.
  std::vector<std::string> used_images;
  const bool caching = request.layer_cache != ImageBuildRequest::LayerCache::kOff;
  LogLineFn bud_log = [&](std::string_view line) {
    if (caching) {
      if (auto id = LocalLayerCache::ImageOfBudLine(line)) used_images.push_back(std::move(*id));
    }
    log(line);
  };
  auto bud_outcome =
      RunStep("bud", std::move(bud), env, bud_log, stop, sandbox ? &*sandbox : nullptr);
  sandbox.reset();  // the network and cgroups go as soon as the steps are done
  built = bud_outcome.has_value();
  timer.Mark("bud");
  std::vector<std::string> superseded;
  if (caching) {
    layer_cache_.Touch(used_images, std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
    if (bud_outcome) {
      superseded = layer_cache_.Record(
          request.cache_repository.empty() ? request.image : request.cache_repository,
          used_images, request.layer_cache == ImageBuildRequest::LayerCache::kRefresh);
    }
  }
  // A noCache build's steps replace the project's earlier ones here too: buildah finds local
  // steps oldest first, so the earlier ones would keep winning.
  if (!superseded.empty()) {
    RemoveLocalImages(superseded);
    timer.Mark("superseded steps removed");
  }
  {
    std::lock_guard lock(mu_);
    if (!built) leftovers_ = true;
    if (--buds_in_flight_ == 0 && leftovers_) {
      leftovers_ = false;
      std::set<std::string> left;
      for (const auto& id : ContainerIds()) {
        if (!baseline_->contains(id)) left.insert(id);
      }
      RemoveContainers(left);
    }
  }
  if (!bud_outcome) return std::unexpected(bud_outcome.error());
  ImageBuildOutcome outcome;
  for (const std::string& base : request.base_images) {
    if (std::string digest = LocalDigest(base); !digest.empty()) {
      outcome.base_digests[base] = digest;
    }
  }
  if (!request.base_images.empty()) timer.Mark("base digests inspected");

  auto push = Command();
  for (std::string a : {std::string("push"), std::string("--authfile"), auth_file.string(),
                        std::string("--digestfile"), digest_file.string(), request.image,
                        "docker://" + request.image}) {
    push.push_back(std::move(a));
  }
  log(fmt::format("$ buildah push {}", request.image));
  auto pushed = RunStep("push", std::move(push), env, log, stop);
  timer.Mark("push");
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
  // The registry has every blob now: each further tag costs a manifest upload.
  for (const std::string& extra : request.extra_images) {
    auto again = Command();
    for (std::string a : {std::string("push"), std::string("--authfile"), auth_file.string(),
                          request.image, "docker://" + extra}) {
      again.push_back(std::move(a));
    }
    log(fmt::format("$ buildah push {} as {}", request.image, extra));
    if (auto ok = RunStep("push", std::move(again), env, log, stop); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (!request.extra_images.empty()) timer.Mark("extra tags pushed");
  MARKET_LOG_DEBUG("buildah steps of {}: {}", request.image, timer.Summary());
  return outcome;
}

}  // namespace

ImageBuilderPtr MakeBuildahBuilder(BuildahOptions options) {
  return std::make_unique<BuildahBuilder>(std::move(options));
}

Result<void> CheckBuildahSandbox(const BuildahOptions& options) {
  auto installed = [](std::string tool, std::string_view why,
                      std::string flag = "--version") -> Result<void> {
    process::Spec spec;
    spec.argv = {std::move(tool), std::move(flag)};
    spec.timeout = std::chrono::seconds(20);
    auto version = process::RunCapture(spec, {}, {});
    if (!version || !version->outcome.Succeeded()) {
      return Fail(Errc::kInternal, fmt::format("{} is not installed ({})", spec.argv[0], why));
    }
    return {};
  };
  if (auto ok = installed(options.buildah_path, "it builds the images"); !ok) return ok;
  if (options.isolation != "oci") return {};
  const SandboxOptions sandbox = ToSandboxOptions(options);
  RemoveStaleSandboxes(sandbox);
  if (auto ok = installed("runc", "buildah --isolation oci runs RUN steps in it"); !ok) return ok;
  if (auto ok = installed(options.slirp_path, "the build network's way out"); !ok) return ok;
  if (auto ok = installed(options.ip_path, "iproute2 makes the build network", "-V"); !ok)
    return ok;
  MARKET_ASSIGN_OR_RETURN(auto made, BuildSandbox::Create(sandbox));
  return {};
}

}  // namespace market
