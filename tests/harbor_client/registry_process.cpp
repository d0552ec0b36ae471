#include "harbor_client/registry_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "base64.hpp"
#include "registry_http.hpp"

extern char** environ;

namespace market::testing {

namespace {

using harbor::HttpClient;
using harbor::HttpClientOptions;
using harbor::HttpRequest;
using harbor::HttpResponse;

std::string RunCapture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  if (pclose(pipe) != 0) throw std::runtime_error("command failed: " + command);
  return out;
}

std::unique_ptr<HttpClient> TestClient(const std::string& ca_file = "") {
  HttpClientOptions options;
  options.ca_file = ca_file;
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.request_timeout = std::chrono::milliseconds(5000);
  options.max_retries = 0;
  auto client = HttpClient::Create(options);
  if (!client) throw std::runtime_error(client.error().message);
  return std::move(*client);
}

HttpResponse MustSend(HttpClient& client, HttpRequest request, std::initializer_list<int> ok) {
  auto response = client.Send(request);
  if (!response) throw std::runtime_error(request.method + " failed: " + response.error().message);
  for (int s : ok) {
    if (response->status == s) return *response;
  }
  throw std::runtime_error(request.method + " " + request.url.target + ": HTTP " +
                           std::to_string(response->status) + " " + response->body);
}

struct Pusher {
  std::unique_ptr<HttpClient> client;
  harbor::Url base;
  std::string auth;

  HttpRequest Request(std::string method, std::string target) {
    HttpRequest r{std::move(method), base, {}, {}};
    r.url.target = std::move(target);
    if (!auth.empty()) r.headers.push_back({"Authorization", auth});
    return r;
  }

  void Blob(const std::string& repository, const std::string& data) {
    auto started =
        MustSend(*client, Request("POST", "/v2/" + repository + "/blobs/uploads/"), {202});
    auto location = harbor::ResolveUrl(base, started.Header("Location").value_or(""));
    if (!location) throw std::runtime_error("upload without Location");
    HttpRequest put = Request("PUT", location->target);
    put.url = *location;
    put.url.target += (put.url.target.find('?') == std::string::npos ? "?" : "&") +
                      std::string("digest=") + harbor::PercentEncode(harbor::Sha256Digest(data));
    put.headers.push_back({"Content-Type", "application/octet-stream"});
    put.body = data;
    MustSend(*client, put, {201});
  }

  void Manifest(const std::string& repository, const std::string& reference,
                const std::string& media_type, const std::string& body) {
    HttpRequest put = Request("PUT", "/v2/" + repository + "/manifests/" + reference);
    put.headers.push_back({"Content-Type", media_type});
    put.body = body;
    MustSend(*client, put, {201});
  }
};

Pusher MakePusher(const std::string& registry_url, const std::string& user,
                  const std::string& password, const std::string& ca_file) {
  auto base = harbor::ParseUrl(registry_url);
  if (!base) throw std::runtime_error(base.error().message);
  Pusher p{TestClient(ca_file), *base, {}};
  if (!user.empty()) p.auth = "Basic " + Base64Encode(user + ":" + password);
  return p;
}

}  // namespace

RegistryProcess::RegistryProcess(Options options) : options_(std::move(options)) {
  const auto dir = dir_.path();
  port_ = FreeLoopbackPort();
  std::string yaml =
      "version: 0.1\n"
      "log:\n  level: error\n  accesslog:\n    disabled: true\n"
      "storage:\n  filesystem:\n    rootdirectory: " +
      (dir / "data").string() +
      "\n  delete:\n    enabled: " + (options_.deletes ? "true" : "false") +
      "\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port_) + "\n  secret: market-test-secret\n";
  if (options_.tls) {
    RunCapture(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
        " -addext subjectAltName=IP:127.0.0.1 -keyout " +
        (dir / "key.pem").string() + " -out " + (dir / "cert.pem").string() + " 2>/dev/null");
    yaml += "  tls:\n    certificate: " + (dir / "cert.pem").string() +
            "\n    key: " + (dir / "key.pem").string() + "\n";
  }
  if (options_.user) {
    // bcrypt cost 4 (the minimum): the registry checks the hash on every request.
    std::ofstream(dir / "htpasswd")
        << RunCapture("htpasswd -Bbn -C 4 " + *options_.user + " " + options_.password);
    yaml += "auth:\n  htpasswd:\n    realm: market-test\n    path: " + (dir / "htpasswd").string() +
            "\n";
  }
  std::ofstream(dir / "config.yml") << yaml;

  const std::string config = (dir / "config.yml").string();
  const std::string log = (dir / "registry.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::string arg0 = "docker-registry", arg1 = "serve";
  std::string arg2 = config;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  const int rc = posix_spawnp(&pid_, "docker-registry", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start docker-registry");

  auto client = TestClient(options_.tls ? ca_file() : "");
  auto url = harbor::ParseUrl(Url() + "/v2/");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto response = client->Send(HttpRequest{"GET", *url, {}, {}});
    if (response && (response->status == 200 || response->status == 401)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  throw std::runtime_error("docker-registry did not come up: " + text);
}

RegistryProcess::~RegistryProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

std::string RegistryProcess::Url() const {
  return std::string(options_.tls ? "https" : "http") + "://" + HostPort();
}

std::string RegistryProcess::HostPort() const { return "127.0.0.1:" + std::to_string(port_); }

PushedImage PushTestImage(const std::string& registry_url, const std::string& repository,
                          const std::vector<std::string>& tags, const std::string& seed,
                          const std::string& created, const std::string& user,
                          const std::string& password, const std::string& ca_file) {
  Pusher pusher = MakePusher(registry_url, user, password, ca_file);
  const std::string layer = "layer bytes of " + seed;
  nlohmann::json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"created", created},
      {"config", {{"Labels", {{"seed", seed}}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {harbor::Sha256Digest(layer)}}}}};
  PushedImage image;
  image.config = config.dump();
  pusher.Blob(repository, image.config);
  pusher.Blob(repository, layer);
  nlohmann::json manifest = {{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"config",
                              {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                               {"digest", harbor::Sha256Digest(image.config)},
                               {"size", image.config.size()}}},
                             {"layers",
                              {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                {"digest", harbor::Sha256Digest(layer)},
                                {"size", layer.size()}}}}};
  image.manifest = manifest.dump();
  image.digest = harbor::Sha256Digest(image.manifest);
  image.size = static_cast<std::int64_t>(image.manifest.size() + image.config.size() + layer.size());
  for (const auto& tag : tags) {
    pusher.Manifest(repository, tag, "application/vnd.oci.image.manifest.v1+json", image.manifest);
  }
  return image;
}

std::string PushTestIndex(const std::string& registry_url, const std::string& repository,
                          const std::string& tag, const PushedImage& image) {
  Pusher pusher = MakePusher(registry_url, "", "", "");
  nlohmann::json index = {{"schemaVersion", 2},
                          {"mediaType", "application/vnd.oci.image.index.v1+json"},
                          {"manifests",
                           {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                             {"digest", image.digest},
                             {"size", image.manifest.size()},
                             {"platform", {{"architecture", "amd64"}, {"os", "linux"}}}}}}};
  const std::string body = index.dump();
  pusher.Manifest(repository, tag, "application/vnd.oci.image.index.v1+json", body);
  return harbor::Sha256Digest(body);
}

}  // namespace market::testing
