// Real builds: buildah builds projects made of the built-in plugins and pushes them to the
// registry at MARKET_TEST_REGISTRY; the test reads the result back from the registry over
// HTTP (manifest, config, layer tars). Skipped with a notice without a registry or buildah.

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "market/build_service.hpp"
#include "market/buildah_builder.hpp"
#include "market/command_source_checkout.hpp"
#include "market/network_rules.hpp"
#include "market/plugin_registry.hpp"
#include "process/process.hpp"
#include "support/git_server.hpp"
#include "support/test_env.hpp"
#include "support/test_hosts.hpp"
#include "support/test_stores.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kManifestTypes =
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A plain-HTTP GET (HTTP/1.0, so no chunked bodies) against host:port.
HttpResponse HttpGet(const std::string& hostport, const std::string& target,
                     const std::string& accept = "") {
  auto colon = hostport.rfind(':');
  std::string host = hostport.substr(0, colon);
  std::string port = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  REQUIRE(::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) == 0);
  int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  REQUIRE(rc == 0);
  std::string request = "GET " + target + " HTTP/1.0\r\nHost: " + hostport + "\r\n";
  if (!accept.empty()) request += "Accept: " + accept + "\r\n";
  request += "\r\n";
  REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  HttpResponse r;
  auto head_end = raw.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  r.status = std::stoi(line.substr(line.find(' ') + 1, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto c = line.find(':');
    if (c == std::string::npos) continue;
    std::string name = line.substr(0, c);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    r.headers[name] = line.substr(line.find_first_not_of(' ', c + 1));
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

// The registry as the service sees it: plain HTTP, planted credentials it never asks for.
class TestRegistry final : public Registry {
 public:
  TestRegistry(std::string host, RegistryCredentials credentials)
      : host_(std::move(host)), credentials_(std::move(credentials)) {}

  Result<Paged<RegistryProject>> ListProjects(std::string_view, RegistryPage) override {
    return Fail(Errc::kRegistryUnsupported, "not used");
  }
  Result<Paged<RegistryRepository>> ListRepositories(std::int64_t, std::string_view,
                                                     RegistryPage) override {
    return Fail(Errc::kRegistryUnsupported, "not used");
  }
  Result<Paged<RegistryTag>> ListTags(std::string_view, RegistryPage) override {
    return Fail(Errc::kRegistryUnsupported, "not used");
  }
  Result<RegistryManifest> GetManifest(std::string_view repository,
                                       std::string_view reference) override {
    auto r =
        HttpGet(host_, fmt::format("/v2/{}/manifests/{}", repository, reference), kManifestTypes);
    if (r.status != 200) return Fail(Errc::kNotFound, "manifest not found");
    RegistryManifest m;
    m.manifest_json = r.body;
    m.digest = r.headers["docker-content-digest"];
    return m;
  }
  Result<void> DeleteTag(std::string_view, std::string_view, bool) override {
    return Fail(Errc::kRegistryUnsupported, "not used");
  }
  Result<void> DeleteManifest(std::string_view, std::string_view) override {
    return Fail(Errc::kRegistryUnsupported, "not used");
  }
  Result<void> EnsureProject(std::string_view) override { return {}; }
  Result<void> Ping() override { return {}; }
  std::string PushHost() const override { return host_; }
  bool TlsVerify() const override { return false; }
  const RegistryCredentials& Credentials() const override { return credentials_; }

 private:
  std::string host_;
  RegistryCredentials credentials_;
};

process::Outcome MustRun(std::vector<std::string> argv, std::string* output = nullptr,
                         const std::filesystem::path& cwd = {}) {
  process::Spec spec;
  spec.argv = std::move(argv);
  spec.cwd = cwd;
  spec.env = market::testing::GitIdentity();
  std::string out;
  auto r = process::Run(spec, [&](std::string_view l) { out += std::string(l) + "\n"; }, {});
  REQUIRE(r);
  INFO(out);
  REQUIRE(r->Succeeded());
  if (output) *output = out;
  return *r;
}

bool HaveBuildah() {
  process::Spec spec;
  spec.argv = {"buildah", "--version"};
  auto r = process::Run(spec, {}, {});
  return r && r->Succeeded();
}

// Storage for every buildah call of this test run, apart from the machine's default one.
struct BuildahStorage {
  testing::TempDir dir;
  BuildahOptions Options() const {
    BuildahOptions o;
    o.root = dir.path() / "root";
    o.runroot = dir.path() / "runroot";
    return o;
  }
};

BuildahStorage& Storage() {
  static BuildahStorage storage;
  return storage;
}

// <registry>/base/busybox:latest: FROM scratch + busybox-static, so builds need no internet.
void EnsureBaseImage(const std::string& registry) {
  if (HttpGet(registry, "/v2/base/busybox/manifests/latest", kManifestTypes).status == 200) {
    return;
  }
  testing::TempDir context;
  std::filesystem::copy_file("/bin/busybox", context.path() / "busybox");
  std::ofstream(context.path() / "Dockerfile")
      << "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\",\"--install\",\"-s\","
         "\"/bin\"]\n";
  auto builder = MakeBuildahBuilder(Storage().Options());
  ImageBuildRequest request;
  request.context_dir = context.path();
  request.dockerfile = "Dockerfile";
  request.image = registry + "/base/busybox:latest";
  request.registry_host = registry;
  request.tls_verify = false;
  std::string log;
  auto r =
      builder->BuildAndPush(request, [&](std::string_view l) { log += std::string(l) + "\n"; }, {});
  INFO(log);
  REQUIRE(r);
}

// `git daemon` serving a bare repository made by the test, over git:// on loopback.
class GitServer {
 public:
  GitServer() {
    MustRun({"git", "init", "-q", "-b", "main", "work"}, nullptr, dir_.path());
    std::ofstream(dir_.path() / "work/data.txt") << "data from git\n";
    std::ofstream(dir_.path() / "work/tool.sh") << "#!/bin/sh\necho tool\n";
    MustRun({"git", "add", "."}, nullptr, dir_.path() / "work");
    MustRun({"git", "commit", "-q", "-m", "one"}, nullptr, dir_.path() / "work");
    MustRun({"git", "clone", "-q", "--bare", "work", "repo.git"}, nullptr, dir_.path());
    daemon_.emplace(dir_.path());
  }
  std::string url() const { return daemon_->Url("repo.git"); }

 private:
  testing::TempDir dir_;
  std::optional<testing::GitServer> daemon_;
};

// Reads /proc/*/cmdline while builds run: no secret may ever be on a command line.
class CmdlineWatch {
 public:
  explicit CmdlineWatch(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {
    thread_ = std::jthread([this](std::stop_token st) {
      while (!st.stop_requested()) {
        Scan();
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  bool SecretSeen() const { return secret_seen_; }
  bool BuildahSeen() const { return buildah_seen_; }

 private:
  void Scan() {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      std::string cmdline = testing::ReadFileOrEmpty(it->path() / "cmdline");
      // argv is NUL-separated: a `buildah ... bud ...` process proves the scan saw the build.
      if (cmdline.rfind("buildah", 0) == 0 &&
          cmdline.find(std::string("\0bud\0", 5)) != std::string::npos) {
        buildah_seen_ = true;
      }
      for (const auto& s : secrets_) {
        if (cmdline.find(s) != std::string::npos) secret_seen_ = true;
      }
    }
  }
  std::vector<std::string> secrets_;
  std::atomic<bool> secret_seen_{false};
  std::atomic<bool> buildah_seen_{false};
  std::jthread thread_;
};

PluginInstance Entry(std::string plugin, std::map<std::string, AttributeValue> attributes) {
  return PluginInstance{std::move(plugin), std::move(attributes)};
}

// Lets a test change the builder's and the service's options before they are made.
using Configure = std::function<void(BuildahOptions&, BuildServiceOptions&)>;

struct RealFixture {
  RealFixture(std::string host, int workers = 2, const Configure& configure = {})
      : registry_host(std::move(host)),
        db(testing::Backend::kSqlite),
        registry(registry_host, {"robot", registry_password}) {
    auto opened = db.Open();
    REQUIRE(opened);
    stores = std::move(*opened);
    BuildahOptions builder_options = Storage().Options();
    BuildServiceOptions options;
    options.workers = workers;
    options.workspace = workspace.path();
    options.poll_interval = 100ms;
    if (configure) configure(builder_options, options);
    builder = MakeBuildahBuilder(builder_options);
    // The test's git daemon listens on loopback.
    checkout = MakeCommandSourceCheckout({.allow_networks = {"127.0.0.0/8"}});
    BuildDependencies deps{stores.projects.get(), stores.builds.get(), plugins.get(), builder.get(),
                           checkout.get(),        &registry,           &clock};
    service = std::make_unique<BuildService>(deps, options);
  }

  std::string Base() const { return registry_host + "/base/busybox:latest"; }

  void AddProject(const std::string& name, Pipeline pipeline) {
    Project p;
    p.name = name;
    p.creator = "tester";
    p.create_time = clock.Now();
    p.last_modify_time = clock.Now();
    p.last_modify_operator = "tester";
    p.cluster = "markettest";
    p.define_type = DockerfileType::kTool;
    p.pipeline = std::move(pipeline);
    auto valid = plugins->Validate(p.define_type, p.pipeline);
    INFO((valid ? std::string() : valid.error().message));
    REQUIRE(valid);
    REQUIRE(stores.projects->Insert(p));
  }

  Build WaitFinished(std::int64_t id, std::chrono::seconds timeout = 300s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto b = stores.builds->Get(id);
      REQUIRE(b);
      if (IsFinished(b->state) || std::chrono::steady_clock::now() > deadline) return *b;
      std::this_thread::sleep_for(100ms);
    }
  }

  std::string Log(std::int64_t id) {
    auto chunk = stores.builds->ReadLog(id, 0, 64 << 20);
    REQUIRE(chunk);
    return chunk->text;
  }

  const std::string registry_password = "Planted-Registry-pw-" + std::to_string(::getpid());
  std::string registry_host;
  testing::TestDatabase db;
  Stores stores;
  SystemClock clock;
  std::unique_ptr<PluginRegistry> plugins = MakeBuiltinPluginRegistry();
  TestRegistry registry;
  ImageBuilderPtr builder;
  SourceCheckoutPtr checkout;
  testing::TempDir workspace;
  std::unique_ptr<BuildService> service;
};

std::optional<std::string> RealSetup() {
  auto host = testing::RegistryHost();
  if (!host) {
    WARN("skipped: MARKET_TEST_REGISTRY is not set (real buildah builds need a registry)");
    return std::nullopt;
  }
  if (!HaveBuildah()) {
    WARN("skipped: buildah is not installed");
    return std::nullopt;
  }
  EnsureBaseImage(*host);
  return host;
}

// Unpacks the image's layers, in order, into `into`.
void UnpackLayers(const std::string& registry, const std::string& repository, const json& manifest,
                  const std::filesystem::path& into) {
  std::filesystem::create_directories(into);
  int i = 0;
  for (const auto& layer : manifest.at("layers")) {
    auto blob = HttpGet(registry, fmt::format("/v2/{}/blobs/{}", repository,
                                              layer.at("digest").get<std::string>()));
    REQUIRE(blob.status == 200);
    CHECK(static_cast<std::int64_t>(blob.body.size()) == layer.at("size").get<std::int64_t>());
    auto file = into.parent_path() / fmt::format("layer{}.tar", i++);
    std::ofstream(file, std::ios::binary) << blob.body;
    // GNU tar detects gzip (or no compression) by itself.
    MustRun({"tar", "-xf", file.string(), "-C", into.string()});
  }
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("A project of many plugins builds with buildah and lands in the registry", "[buildah]") {
  auto host = RealSetup();
  if (!host) return;
  GitServer git;
  RealFixture f(*host);
  const std::string git_password = "Planted-Git-pw-" + std::to_string(::getpid());
  f.AddProject(
      "plugins-demo",
      {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
       Entry("download_executable_source", {{"source_type", std::string("git")},
                                            {"source_url", git.url()},
                                            {"checkoutAs", std::string("src")},
                                            {"containerPath", std::string("/opt/src")},
                                            {"username", std::string("deploy")},
                                            {"password", git_password}}),
       Entry("work_dir", {{"input_workDir", std::string("/app")}}),
       Entry("run", {{"value", std::vector<std::string>{"echo run-output > /run.txt",
                                                        "echo in-workdir > made-here.txt"}}}),
       Entry("env_set", {{"key", std::vector<std::string>{"GREETING", "MODE"}},
                         {"value", std::vector<std::string>{"hello world", "test"}}}),
       Entry("expose", {{"port", std::vector<std::string>{"8080", "9090"}}}),
       Entry("copy", {{"key", std::vector<std::string>{"src/data.txt"}},
                      {"value", std::vector<std::string>{"/copied/data.txt"}}}),
       Entry("label", {{"key", std::vector<std::string>{"org.example.built-by"}},
                       {"value", std::vector<std::string>{"image-market"}}}),
       Entry("entrypoint", {{"input_entrypoint", std::string("/bin/sh -c 'cat /run.txt'")}})});

  CmdlineWatch watch({f.registry_password, git_password});
  f.service->Start();
  auto queued = f.service->Enqueue("plugins-demo", "v1", "tester");
  REQUIRE(queued);
  const auto started = std::chrono::steady_clock::now();
  Build done = f.WaitFinished(queued->id);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string log = f.Log(done.id);
  INFO(log);
  REQUIRE(done.state == BuildState::kSucceeded);
  WARN(fmt::format("real build of 9 plugins took {:.1f} s", seconds));

  const std::string repo = "markettest/plugins-demo";
  auto manifest_response = HttpGet(*host, "/v2/" + repo + "/manifests/v1", kManifestTypes);
  REQUIRE(manifest_response.status == 200);
  CHECK(manifest_response.headers["docker-content-digest"] == done.digest);
  json manifest = json::parse(manifest_response.body);
  std::int64_t size = manifest.at("config").at("size").get<std::int64_t>();
  for (const auto& l : manifest.at("layers")) size += l.at("size").get<std::int64_t>();
  CHECK(done.size == size);

  auto config_response = HttpGet(
      *host, "/v2/" + repo + "/blobs/" + manifest.at("config").at("digest").get<std::string>());
  REQUIRE(config_response.status == 200);
  json config = json::parse(config_response.body).at("config");
  auto env = config.at("Env").get<std::vector<std::string>>();
  CHECK(std::find(env.begin(), env.end(), "GREETING=hello world") != env.end());
  CHECK(std::find(env.begin(), env.end(), "MODE=test") != env.end());
  CHECK(config.at("ExposedPorts").contains("8080/tcp"));
  CHECK(config.at("ExposedPorts").contains("9090/tcp"));
  CHECK(config.at("Entrypoint") == json::array({"/bin/sh", "-c", "cat /run.txt"}));
  CHECK(config.at("WorkingDir") == "/app");
  CHECK(config.at("Labels").at("org.example.built-by") == "image-market");

  testing::TempDir unpack;
  UnpackLayers(*host, repo, manifest, unpack.path() / "rootfs");
  const auto root = unpack.path() / "rootfs";
  CHECK(ReadFile(root / "run.txt") == "run-output\n");
  CHECK(ReadFile(root / "app/made-here.txt") == "in-workdir\n");
  CHECK(ReadFile(root / "copied/data.txt") == "data from git\n");
  CHECK(ReadFile(root / "opt/src/data.txt") == "data from git\n");
  CHECK(ReadFile(root / "opt/src/tool.sh") == "#!/bin/sh\necho tool\n");
  CHECK_FALSE(std::filesystem::exists(root / "opt/src/.git"));

  // Secrets: in no stored log, on no command line while it ran.
  CHECK(watch.BuildahSeen());
  CHECK_FALSE(watch.SecretSeen());
  CHECK(log.find(f.registry_password) == std::string::npos);
  CHECK(log.find(git_password) == std::string::npos);
  // The pushed image leaves local storage once the builder is idle; the workspace is gone.
  std::string images;
  auto o = Storage().Options();
  for (int attempt = 0; attempt < 120; ++attempt) {
    images.clear();
    MustRun({"buildah", "--storage-driver", "vfs", "--root", o.root.string(), "--runroot",
             o.runroot.string(), "images", "--format", "{{.Name}}:{{.Tag}}"},
            &images);
    if (images.find("plugins-demo") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  CHECK(images.find("plugins-demo") == std::string::npos);
  CHECK(std::filesystem::is_empty(f.workspace.path()));
}

TEST_CASE("A failing RUN ends failed with buildah's error in the log", "[buildah]") {
  auto host = RealSetup();
  if (!host) return;
  RealFixture f(*host);
  f.AddProject(
      "fails",
      {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
       Entry("run", {{"value", std::vector<std::string>{"echo about-to-fail && exit 7"}}})});
  f.service->Start();
  auto queued = f.service->Enqueue("fails", "v1", "tester");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  std::string log = f.Log(done.id);
  INFO(log);
  CHECK(done.state == BuildState::kFailed);
  CHECK(done.reason.find("buildah bud failed") != std::string::npos);
  CHECK(log.find("about-to-fail") != std::string::npos);
  CHECK(log.find("exit status 7") != std::string::npos);
  CHECK(HttpGet(*host, "/v2/markettest/fails/manifests/v1", kManifestTypes).status == 404);
  std::string containers;
  auto o = Storage().Options();
  MustRun({"buildah", "--storage-driver", "vfs", "--root", o.root.string(), "--runroot",
           o.runroot.string(), "containers", "--quiet"},
          &containers);
  CHECK(containers.empty());
}

// The working containers in the test's storage, one id a line.
std::string StorageContainers() {
  std::string containers;
  auto o = Storage().Options();
  MustRun({"buildah", "--storage-driver", "vfs", "--root", o.root.string(), "--runroot",
           o.runroot.string(), "containers", "--quiet", "--notruncate"},
          &containers);
  return containers;
}

// The first directory of PATH holding `name`; empty if none does.
std::string OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
  }
  return {};
}

TEST_CASE("The builder lists working containers once, and still removes a failed bud's",
          "[buildah]") {
  auto host = RealSetup();
  if (!host) return;
  const std::string buildah = OnPath("buildah");
  REQUIRE_FALSE(buildah.empty());
  // buildah behind a script that notes each subcommand the builder runs.
  testing::TempDir dir;
  const auto calls = dir.path() / "calls";
  const auto wrapper = dir.path() / "buildah";
  std::ofstream(wrapper) << fmt::format(
      "#!/bin/sh\nfor a in \"$@\"; do\n  case \"$a\" in\n"
      "    bud|containers|push|rm|rmi|inspect) echo \"$a\" >> '{}'; break ;;\n  esac\ndone\n"
      "exec '{}' \"$@\"\n",
      calls.string(), buildah);
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  const std::string before = StorageContainers();

  // One worker: every bud starts with no other bud in flight.
  RealFixture f(*host, 1, [&](BuildahOptions& builder, BuildServiceOptions&) {
    builder.buildah_path = wrapper.string();
  });
  f.AddProject("listed-once-a",
               {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
                Entry("run", {{"value", std::vector<std::string>{"echo a > /a"}}})});
  f.AddProject("listed-once-b",
               {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
                Entry("run", {{"value", std::vector<std::string>{"echo b > /b"}}})});
  f.AddProject("listed-once-fails",
               {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
                Entry("run", {{"value", std::vector<std::string>{"exit 7"}}})});
  f.service->Start();
  std::vector<BuildState> states;
  for (const char* project : {"listed-once-a", "listed-once-b", "listed-once-fails"}) {
    auto queued = f.service->Enqueue(project, "v1", "tester");
    REQUIRE(queued);
    states.push_back(f.WaitFinished(queued->id).state);
  }
  CHECK(states == std::vector<BuildState>{BuildState::kSucceeded, BuildState::kSucceeded,
                                          BuildState::kFailed});

  std::map<std::string, int> count;
  std::ifstream in(calls);
  for (std::string line; std::getline(in, line);) ++count[line];
  CHECK(count["bud"] == 3);
  CHECK(count["push"] == 2);
  // Once before the first bud, once to find what the failed bud left; none before the others.
  CHECK(count["containers"] == 2);
  CHECK(StorageContainers() == before);
}

TEST_CASE("Cancel of a running and a queued real build", "[buildah]") {
  auto host = RealSetup();
  if (!host) return;
  RealFixture f(*host);
  f.AddProject(
      "slow",
      {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
       Entry("run", {{"value", std::vector<std::string>{"echo sleeping-now && sleep 120"}}})});
  f.service->Start();
  auto running = f.service->Enqueue("slow", "v1", "tester");
  auto queued = f.service->Enqueue("slow", "v2", "tester");  // waits: same project
  REQUIRE(running);
  REQUIRE(queued);
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (f.Log(running->id).find("sleeping-now") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(f.Log(running->id).find("sleeping-now") != std::string::npos);
  CHECK(f.stores.builds->Get(queued->id)->state == BuildState::kQueued);

  auto cancelled_queued = f.service->Cancel(queued->id, "tester");
  REQUIRE(cancelled_queued);
  CHECK(cancelled_queued->state == BuildState::kCancelled);
  const auto cancel_at = std::chrono::steady_clock::now();
  REQUIRE(f.service->Cancel(running->id, "tester"));
  Build done = f.WaitFinished(running->id, 60s);
  CHECK(done.state == BuildState::kCancelled);
  WARN(fmt::format(
      "cancel of a running buildah build took {:.1f} s",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - cancel_at).count()));
  // No `sleep 120` of the build is left.
  bool sleeper = false;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string cmdline = testing::ReadFileOrEmpty(it->path() / "cmdline");
    if (cmdline.find("sleeping-now") != std::string::npos) sleeper = true;
  }
  CHECK_FALSE(sleeper);
  CHECK(f.stores.builds->Get(queued->id)->state == BuildState::kCancelled);
  // buildah cleaned up after SIGTERM: no working container is left in the storage.
  std::string containers;
  auto o = Storage().Options();
  MustRun({"buildah", "--storage-driver", "vfs", "--root", o.root.string(), "--runroot",
           o.runroot.string(), "containers", "--quiet"},
          &containers);
  CHECK(containers.empty());
}

TEST_CASE("Eight real builds across three projects: all finish, one per project at a time",
          "[buildah]") {
  auto host = RealSetup();
  if (!host) return;
  RealFixture f(*host, 3);
  const char* projects[] = {"multi-a", "multi-b", "multi-c"};
  for (const char* p : projects) {
    f.AddProject(p, {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
                     Entry("run", {{"value", std::vector<std::string>{std::string("echo ") + p +
                                                                      " > /name.txt"}}})});
  }
  f.service->Start();
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 8; ++i) {
    auto b = f.service->Enqueue(projects[i % 3], "n" + std::to_string(i), "tester");
    REQUIRE(b);
    ids.push_back(b->id);
  }
  std::map<std::string, std::vector<std::pair<TimePoint, TimePoint>>> spans;
  for (auto id : ids) {
    Build b = f.WaitFinished(id);
    INFO(f.Log(id));
    CHECK(b.state == BuildState::kSucceeded);
    REQUIRE(b.started_at);
    REQUIRE(b.finished_at);
    spans[b.project].emplace_back(*b.started_at, *b.finished_at);
    // Each build ran once: one "started" line in its log.
    std::string log = f.Log(id);
    std::size_t starts = 0;
    for (auto pos = log.find("(worker "); pos != std::string::npos;
         pos = log.find("(worker ", pos + 1)) {
      ++starts;
    }
    CHECK(starts == 1);
    CHECK(HttpGet(*host, fmt::format("/v2/markettest/{}/manifests/{}", b.project, b.tag),
                  kManifestTypes)
              .status == 200);
  }
  WARN(fmt::format(
      "8 real builds with 3 workers took {:.1f} s",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()));
  for (auto& [project, list] : spans) {
    std::sort(list.begin(), list.end());
    for (std::size_t i = 1; i < list.size(); ++i) {
      CHECK(list[i].first >= list[i - 1].second);  // no overlap within a project
    }
  }
}

// --- The build sandbox: what a RUN step can reach, and its limits ---------------------------

// One RUN line that tries each target and prints "<target> reached" or "<target> refused".
std::string ProbeLine(const std::vector<std::string>& targets) {
  std::string line = "for t in";
  for (const auto& t : targets) line += " " + t;
  line +=
      "; do h=${t%:*}; p=${t##*:}; if printf 'GET /probe.txt HTTP/1.0\\r\\n\\r\\n' | "
      "nc -w 3 $h $p >/dev/null 2>&1; then echo \"probe $t reached\"; "
      "else echo \"probe $t refused\"; fi; done";
  return line;
}

TEST_CASE("A RUN step reaches the outside and never this host, link-local or denied networks",
          "[buildah][sandbox]") {
  auto host = RealSetup();
  if (!host) return;
  if (!testing::TestHosts::Possible()) {
    WARN("skipped: the sandbox needs root (network namespaces and cgroups)");
    return;
  }
  testing::TestHosts hosts;
  testing::HostListener listener;
  const std::string registry_port = host->substr(host->rfind(':') + 1);
  const std::vector<std::string> targets = {
      "198.18.0.2:8080",                                // the outside
      "169.254.169.254:8080",                           // link-local metadata
      "10.0.2.2:" + registry_port,                      // the host's loopback, via the gateway
      "198.18.0.1:" + std::to_string(listener.port()),  // this host's own address
      "127.0.0.1:" + registry_port,                     // the step's own loopback: nothing there
  };
  auto build = [&](const Configure& configure, const std::string& project) {
    RealFixture f(*host, 1, configure);
    f.AddProject(project,
                 {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
                  Entry("run", {{"value", std::vector<std::string>{ProbeLine(targets)}}})});
    f.service->Start();
    auto queued = f.service->Enqueue(project, "v1", "tester");
    REQUIRE(queued);
    Build done = f.WaitFinished(queued->id);
    std::string log = f.Log(done.id);
    INFO(log);
    REQUIRE(done.state == BuildState::kSucceeded);
    return log;
  };

  SECTION("oci isolation: only the outside") {
    std::string log = build({}, "probe-oci");
    CHECK(log.find("probe 198.18.0.2:8080 reached") != std::string::npos);
    CHECK(log.find("probe 169.254.169.254:8080 refused") != std::string::npos);
    CHECK(log.find("probe 10.0.2.2:" + registry_port + " refused") != std::string::npos);
    CHECK(log.find("probe 198.18.0.1:" + std::to_string(listener.port()) + " refused") !=
          std::string::npos);
    CHECK(log.find("probe 127.0.0.1:" + registry_port + " refused") != std::string::npos);
    CHECK(log.find("sandbox: RUN steps in runc with a private network") != std::string::npos);
  }
  SECTION("build-deny-networks refuses the outside too") {
    std::string log = build(
        [](BuildahOptions& b, BuildServiceOptions&) {
          b.deny_networks = *ParseIpRanges("build-deny-networks", "198.18.0.0/15");
        },
        "probe-deny");
    CHECK(log.find("probe 198.18.0.2:8080 refused") != std::string::npos);
    CHECK(log.find("198.18.0.0/15") != std::string::npos);  // the refused routes are logged
  }
  SECTION("chroot isolation, the opt-out, shares the host's network and says so") {
    std::string log = build([](BuildahOptions& b, BuildServiceOptions&) { b.isolation = "chroot"; },
                            "probe-chroot");
    // The probe can tell: on the host's network the host's own services answer.
    CHECK(log.find("probe 127.0.0.1:" + registry_port + " reached") != std::string::npos);
    CHECK(log.find("WARNING: build-isolation is chroot") != std::string::npos);
  }
}

TEST_CASE("A build past build-pids, build-memory or build-timeout fails naming the limit",
          "[buildah][sandbox]") {
  auto host = RealSetup();
  if (!host) return;
  if (!testing::TestHosts::Possible()) {
    WARN("skipped: the sandbox needs root (network namespaces and cgroups)");
    return;
  }
  auto run = [&](const Configure& configure, const std::string& project, const std::string& step) {
    RealFixture f(*host, 1, configure);
    f.AddProject(project, {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
                           Entry("run", {{"value", std::vector<std::string>{step}}})});
    f.service->Start();
    auto queued = f.service->Enqueue(project, "v1", "tester");
    REQUIRE(queued);
    Build done = f.WaitFinished(queued->id);
    INFO(f.Log(done.id));
    CHECK(done.state == BuildState::kFailed);
    return done.reason + "\n" + f.Log(done.id);
  };
  SECTION("pids") {
    std::string reason = run([](BuildahOptions& b, BuildServiceOptions&) { b.pids = 20; }, "forks",
                             "for i in $(seq 1 60); do sleep 5 & done; wait");
    CHECK_THAT(reason, Catch::Contains("a RUN step reached build-pids: 20 processes"));
  }
  SECTION("memory") {
    std::string reason =
        run([](BuildahOptions& b, BuildServiceOptions&) { b.memory_bytes = 64LL << 20; }, "eats",
            "dd if=/dev/zero of=/dev/null bs=256M count=1");
    CHECK_THAT(reason, Catch::Contains("a RUN step reached build-memory: 67108864 bytes"));
  }
  SECTION("wall-clock time") {
    std::string reason =
        run([](BuildahOptions&, BuildServiceOptions& s) { s.timeout = std::chrono::seconds(3); },
            "sleeps", "sleep 60");
    CHECK(reason.starts_with("build exceeded build-timeout of 3 s\n"));
  }
}

TEST_CASE("A build's log stops at build-log-bytes and says so", "[buildah][sandbox]") {
  auto host = RealSetup();
  if (!host) return;
  RealFixture f(*host, 1,
                [](BuildahOptions&, BuildServiceOptions& s) { s.max_log_bytes = 64 << 10; });
  f.AddProject("chatty", {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}}),
                          Entry("run", {{"value", std::vector<std::string>{
                                                      "i=0; while [ $i -lt 5000 ]; do echo line-$i-"
                                                      "of-a-chatty-build; i=$((i+1)); done"}}})});
  f.service->Start();
  auto queued = f.service->Enqueue("chatty", "v1", "tester");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  CHECK(done.state == BuildState::kSucceeded);
  std::string log = f.Log(done.id);
  CHECK(log.size() < (64 << 10) + 4096);
  CHECK(log.find("log truncated: it exceeds build-log-bytes (65536 bytes)") != std::string::npos);
  CHECK(log.find("line-4999-") == std::string::npos);
}

TEST_CASE("Registry TLS is relaxed for the configured registry only", "[buildah][sandbox]") {
  auto host = RealSetup();
  if (!host) return;
  // The same plain-HTTP registry under another name is another registry: a base image from it
  // is pulled with TLS verification, which a plain-HTTP server cannot pass.
  const std::string other = "localhost:" + host->substr(host->rfind(':') + 1);
  RealFixture f(*host, 1);
  f.AddProject("elsewhere", {Entry("base_image_choose_from_harbor",
                                   {{"handleInput", other + "/base/busybox:latest"}}),
                             Entry("run", {{"value", std::vector<std::string>{"true"}}})});
  f.service->Start();
  auto queued = f.service->Enqueue("elsewhere", "v1", "tester");
  REQUIRE(queued);
  Build done = f.WaitFinished(queued->id);
  INFO(f.Log(done.id));
  CHECK(done.state == BuildState::kFailed);
  CHECK(done.reason.find("HTTP response to HTTPS client") != std::string::npos);
}

TEST_CASE("Builds into a reserved Cluster need an admin, allowed-clusters bounds the rest",
          "[build][sandbox]") {
  auto host = RealSetup();
  if (!host) return;
  RealFixture f(*host, 1, [](BuildahOptions&, BuildServiceOptions& s) {
    s.reserved_clusters = {"markettest"};
  });
  f.AddProject("replace-base",
               {Entry("base_image_choose_from_harbor", {{"handleInput", f.Base()}})});
  auto refused = f.service->Enqueue("replace-base", "v1", "dev", Role::kDeveloper);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::kForbidden);
  CHECK(refused.error().message.find("markettest") != std::string::npos);
  CHECK(f.service->Enqueue("replace-base", "v1", "admin", Role::kAdmin).has_value());

  RealFixture g(*host, 1, [](BuildahOptions&, BuildServiceOptions& s) {
    s.reserved_clusters = {};
    s.allowed_clusters = {"apps"};
  });
  g.AddProject("outside-allowed",
               {Entry("base_image_choose_from_harbor", {{"handleInput", g.Base()}})});
  auto not_allowed = g.service->Enqueue("outside-allowed", "v1", "admin", Role::kAdmin);
  REQUIRE_FALSE(not_allowed);
  CHECK(not_allowed.error().code == Errc::kForbidden);
  CHECK(not_allowed.error().message.find("allowed-clusters") != std::string::npos);
}

// --- Source checkouts whose tools cannot be pinned: in a network of their own -------------

TEST_CASE("A git:// checkout from beyond this host runs in a network of its own",
          "[checkout][sandbox]") {
  if (!testing::TestHosts::Possible()) {
    WARN("skipped: the checkout's network needs root (network namespaces)");
    return;
  }
  testing::TestHosts hosts;
  testing::TempDir repos;
  MustRun({"git", "init", "-q", "-b", "main", "work"}, nullptr, repos.path());
  std::ofstream(repos.path() / "work/data.txt") << "fetched through slirp\n";
  MustRun({"git", "add", "."}, nullptr, repos.path() / "work");
  MustRun({"git", "commit", "-q", "-m", "one"}, nullptr, repos.path() / "work");
  MustRun({"git", "clone", "-q", "--bare", "work", "repo.git"}, nullptr, repos.path());
  hosts.Serve({"git", "daemon", "--reuseaddr", "--export-all", "--listen=198.18.0.2",
               "--port=9418", "--base-path=" + repos.path().string(), repos.path().string()});
  for (int i = 0; i < 100 && !testing::Listening("198.18.0.2", 9418); ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(testing::Listening("198.18.0.2", 9418));

  auto checkout = MakeCommandSourceCheckout({.network_sandbox = true});
  testing::TempDir dest;
  SourceSpec source;
  source.type = "git";
  source.url = "git://198.18.0.2:9418/repo.git";
  std::string log;
  auto ok = checkout->Checkout(source, dest.path() / "src", CheckoutLimits{},
                               [&](std::string_view l) { log += std::string(l) + "\n"; }, {});
  INFO(log);
  REQUIRE(ok);
  CHECK(testing::ReadFileOrEmpty(dest.path() / "src/data.txt") == "fetched through slirp\n");
  CHECK(log.find("in a network of its own") != std::string::npos);
}

TEST_CASE("An svn redirect to this host's loopback reaches nothing from the checkout's network",
          "[checkout][sandbox]") {
  if (!testing::TestHosts::Possible()) {
    WARN("skipped: the checkout's network needs root (network namespaces)");
    return;
  }
  testing::TestHosts hosts;
  testing::HostListener loopback_service;  // what the redirect points at: this host's 127.0.0.1
  const std::string target = fmt::format("http://127.0.0.1:{}", loopback_service.port());
  testing::RedirectServer redirect(hosts, 8081, target);
  SourceSpec source;
  source.type = "svn";
  source.url = "http://198.18.0.2:8081/svn/repo";

  auto run = [&](bool sandbox, std::string& log) {
    CommandCheckoutOptions options;
    options.network_sandbox = sandbox;
    auto checkout = MakeCommandSourceCheckout(options);
    testing::TempDir dest;
    return checkout->Checkout(source, dest.path() / "src", CheckoutLimits{},
                              [&](std::string_view l) { log += std::string(l) + "\n"; }, {});
  };
  {
    // The attack, from the host's network: svn follows the redirect to the loopback service.
    std::string log;
    CHECK_FALSE(run(false, log));
    INFO(log);
    CHECK(redirect.requests() >= 1);
    CHECK(loopback_service.accepted() >= 1);
  }
  const int before = loopback_service.accepted();
  const int asked = redirect.requests();
  std::string log;
  CHECK_FALSE(run(true, log));
  INFO(log);
  CHECK(redirect.requests() > asked);  // the outside server was reached and redirected svn
  CHECK(log.find(target) != std::string::npos);  // svn tried the redirect's target...
  CHECK(loopback_service.accepted() == before);  // ...and reached nothing of this host
}

TEST_CASE("Layer-cached builds keep their steps in storage, trimmed past build-cache-size once idle",
          "[buildah][cache]") {
  auto host = RealSetup();
  if (!host) return;
  // One build of a cached step into a storage of its own with `max_bytes`; the storage's
  // images a moment after the builder went idle.
  auto images_after = [&](std::int64_t max_bytes) {
    testing::TempDir storage;
    BuildahOptions o;
    o.root = storage.path() / "root";
    o.runroot = storage.path() / "runroot";
    o.isolation = "chroot";  // the sandbox is not what this is about
    o.cleanup_quiet_period = 50ms;
    o.cache_max_bytes = max_bytes;
    testing::TempDir context;
    std::ofstream(context.path() / "Dockerfile")
        << "FROM " << *host << "/base/busybox:latest\nRUN echo cached > /cached\n";
    std::string images;
    {
      auto builder = MakeBuildahBuilder(o);
      ImageBuildRequest request;
      request.context_dir = context.path();
      request.dockerfile = "Dockerfile";
      request.image = *host + "/cachetest/trim:latest";
      request.registry_host = *host;
      request.tls_verify = false;
      request.layer_cache = ImageBuildRequest::LayerCache::kUse;
      std::string log;
      auto built = builder->BuildAndPush(
          request, [&](std::string_view l) { log += std::string(l) + "\n"; }, {});
      INFO(log);
      REQUIRE(built);
      CHECK_THAT(log, Catch::Contains("--layers"));
      // The trim runs on the builder's own thread once the quiet period has passed.
      for (int i = 0; i < 100; ++i) {
        std::this_thread::sleep_for(100ms);
        images.clear();
        MustRun({"buildah", "--storage-driver", "vfs", "--root", o.root.string(), "--runroot",
                 o.runroot.string(), "images", "--all", "--quiet"},
                &images);
        if (images.empty() || max_bytes > 1) {
          if (i >= 10) break;  // a second idle: time enough for a trim to have run
        }
      }
    }
    return images;
  };
  // Within the bound: the step and the base stay for the next build (a cold build's image
  // would be removed).
  CHECK_FALSE(images_after(10LL << 30).empty());
  // Past it (a bound no storage fits): the least recently used go, here all of them.
  CHECK(images_after(1).empty());
}

}  // namespace
}  // namespace market
