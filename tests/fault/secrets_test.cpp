// Planted secrets: a registry password (htpasswd docker-registry the build pushes to), a git
// password (a repository served over smart HTTP behind Basic auth), a user's password and an
// API token. A real build uses them all; none may appear in the server's log (at debug level),
// in any response, or on the command line of any process while the build runs.

#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "base64.hpp"
#include "fault/fault_support.hpp"
#include "harbor_client/registry_process.hpp"
#include "support/process_watch.hpp"

namespace market::fault {
namespace {

using json = nlohmann::json;

std::string Planted(const std::string& what) {
  std::random_device rd;
  return what + "-Planted" + std::to_string(rd()) + "x" + std::to_string(rd());
}

// Samples the command line of every process until stopped; keeps the ones holding a secret.
class CommandLineWatch {
 public:
  explicit CommandLineWatch(std::vector<std::string> secrets)
      : secrets_(std::move(secrets)),
        watch_(testing::ProcessWatch::Field::kCommandLine,
               [this](pid_t pid, const std::string& cmdline) {
                 if (cmdline.find("buildah") != std::string::npos) saw_buildah_ = true;
                 if (cmdline.rfind("git ", 0) == 0 || cmdline.find("/git ") != std::string::npos) {
                   saw_git_ = true;
                 }
                 for (const std::string& secret : secrets_) {
                   if (cmdline.find(secret) != std::string::npos) {
                     std::lock_guard lock(mu_);
                     leaks_.insert(std::to_string(pid) + ": " + cmdline.substr(0, 400));
                   }
                 }
               }) {}
  void Stop() { watch_.Stop(); }
  std::set<std::string> leaks() {
    std::lock_guard lock(mu_);
    return leaks_;
  }
  int samples() const { return watch_.samples(); }
  bool saw_buildah() const { return saw_buildah_; }
  bool saw_git() const { return saw_git_; }

 private:
  std::vector<std::string> secrets_;
  std::atomic<bool> saw_buildah_{false};
  std::atomic<bool> saw_git_{false};
  std::mutex mu_;
  std::set<std::string> leaks_;
  testing::ProcessWatch watch_;  // last: stops before the members it writes go
};

// Everything the registry holds of `repository`: its tag names, and for each tag the manifest,
// the config and every layer uncompressed. What a cached step could carry a secret in.
std::vector<std::pair<std::string, std::string>> RepositoryContents(
    const market::testing::RegistryProcess& registry, const std::string& user,
    const std::string& password, const std::string& repository,
    const std::filesystem::path& scratch) {
  const std::string host_port = registry.HostPort();
  HttpClient client(static_cast<std::uint16_t>(std::stoi(host_port.substr(host_port.rfind(':') + 1))),
                    30s);
  const testing::Headers auth = {
      {"Authorization", "Basic " + market::Base64Encode(user + ":" + password)},
      {"Accept",
       "application/vnd.oci.image.manifest.v1+json, "
       "application/vnd.docker.distribution.manifest.v2+json"}};
  std::vector<std::pair<std::string, std::string>> out;
  Reply tags = client.Get("/v2/" + repository + "/tags/list", auth);
  INFO(tags.body);
  REQUIRE(tags.status == 200);
  out.emplace_back("tags", tags.body);
  const json listed = json::parse(tags.body);
  for (const auto& tag : listed["tags"]) {
    Reply manifest = client.Get("/v2/" + repository + "/manifests/" + tag.get<std::string>(), auth);
    REQUIRE(manifest.status == 200);
    out.emplace_back("manifest " + tag.get<std::string>(), manifest.body);
    json parsed = json::parse(manifest.body);
    std::vector<std::string> blobs = {parsed["config"]["digest"]};
    for (const auto& layer : parsed["layers"]) blobs.push_back(layer["digest"]);
    for (const std::string& digest : blobs) {
      Reply blob = client.Get("/v2/" + repository + "/blobs/" + digest, auth);
      // The registry redirects nothing on local storage: the blob itself.
      REQUIRE(blob.status == 200);
      // Through a file: a pipe both ways would fill while the input is still being written.
      const auto file = scratch / digest.substr(digest.find(':') + 1);
      std::ofstream(file, std::ios::binary) << blob.body;
      RunResult plain = RunProgram({"sh", "-c", "gzip -dc < '" + file.string() + "' 2>/dev/null"});
      out.emplace_back("blob " + digest, plain.status == 0 ? plain.out : blob.body);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("planted secrets appear in no log, response or command line",
          "[fault][secrets][buildah]") {
  std::optional<std::string> base_registry = market::testing::RegistryHost();
  if (!base_registry) {
    WARN("MARKET_TEST_REGISTRY is not set (it holds the base image): skipping");
    return;
  }
  const std::string registry_password = Planted("RegistryPw");
  const std::string git_password = Planted("GitPw");
  const std::string user_password = Planted("UserPw");

  market::testing::TempDir dir;
  market::testing::RegistryProcess registry(
      market::testing::RegistryProcess::Options{.user = "pusher", .password = registry_password});
  GitHttpServer git("deploy", git_password);
  const std::string database = "sqlite:" + (dir.path() / "market.db").string();

  // The user and the token through the server's own commands (the password on standard input).
  std::string token;
  std::vector<std::string> auth_args = {"--auth", "on"};
  RunResult user = RunProgram(
      {ServerBinary(), "user", "add", "admin", "--role", "admin", "--database", database},
      user_password + "\n");
  if (user.status == 0) {
    RunResult created = RunProgram({ServerBinary(), "token", "create", "--user", "admin",
                                    "--name", "fault", "--database", database});
    INFO(created.out << created.err);
    REQUIRE(created.status == 0);
    std::istringstream lines(created.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("mkt_")) token = line;
    }
    REQUIRE_FALSE(token.empty());
  } else {
    // A server without the user commands: a users file (hash from --hash-password).
    WARN("market-server user add failed (" << user.err << "): users file, no token");
    RunResult hash = RunProgram({ServerBinary(), "--hash-password"}, user_password + "\n");
    REQUIRE(hash.status == 0);
    std::ofstream(dir.path() / "users") << "admin:" << hash.out;
    auth_args.push_back("--auth-users-file");
    auth_args.push_back((dir.path() / "users").string());
  }
  std::vector<std::string> secrets = {registry_password, git_password, user_password};
  if (!token.empty()) secrets.push_back(token);

  std::vector<std::string> args = {"--listen",
                                   "127.0.0.1:0",
                                   "--database",
                                   database,
                                   "--workspace",
                                   (dir.path() / "ws").string(),
                                   "--registry",
                                   registry.Url(),
                                   "--registry-kind",
                                   "distribution",
                                   "--registry-user",
                                   "pusher",
                                   "--registry-insecure",
                                   "--build-workers",
                                   "1",
                                   // The git server of the test listens on loopback.
                                   "--source-allow-networks",
                                   "127.0.0.0/8",
                                   "--log-level",
                                   "debug"};
  args.insert(args.end(), auth_args.begin(), auth_args.end());
  CommandLineWatch watch(secrets);
  ServerProcess server(args, dir.path() / "server.log",
                       {{"MARKET_REGISTRY_PASSWORD", registry_password}});

  std::vector<std::pair<std::string, Reply>> replies;
  HttpClient client(server.port(), 30s);
  const std::pair<std::string, std::string> basic = {
      "Authorization", "Basic " + market::Base64Encode("admin:" + user_password)};
  const std::pair<std::string, std::string> bearer = {
      "Authorization", token.empty() ? basic.second : "Bearer " + token};
  auto get = [&](const std::string& target, bool use_token = false) {
    Reply reply = client.Get(target, {use_token ? bearer : basic});
    replies.emplace_back("GET " + target, reply);
    return reply;
  };
  auto post = [&](const std::string& target, const json& body, bool use_token = false) {
    Reply reply = client.PostJson(target, body, {use_token ? bearer : basic});
    replies.emplace_back("POST " + target, reply);
    return reply;
  };

  json source = {{"$$plugin", "download_executable_source"},
                 {"source_type", "git"},
                 {"source_url", git.Url()},
                 {"checkoutAs", "src"},
                 {"username", "deploy"},
                 {"password", git_password},
                 {"containerPath", "/src"}};
  json pipeline =
      json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                    {"handleInput", *base_registry + "/base/busybox:latest"}},
                   source,
                   {{"$$plugin", "run"}, {"value", json::array({"cat /src/file.txt"})}}});
  Reply saved = post("/api/project/save", {{"project", "secrets"},
                                           {"addOrUpdate", "add"},
                                           {"operator", "admin"},
                                           {"$$plugin", pipeline}});
  INFO(saved.body);
  REQUIRE(saved.TryCode() == 10000);
  // A password written into the URL: refused or moved out, never repeated back.
  json in_url = source;
  in_url["source_url"] = "http://deploy:" + git_password + "@127.0.0.1:1/repo.git";
  post("/api/project/save", {{"project", "secretsurl"},
                             {"addOrUpdate", "add"},
                             {"operator", "admin"},
                             {"$$plugin", json::array({pipeline[0], in_url})}});
  post("/api/project/dockerfile", {{"$$plugin", json::array({pipeline[0], in_url})}});
  CHECK(get("/api/project/info?projectName=secrets", true).TryCode() == 10000);
  CHECK(get("/api/project/dockerfile?projectName=secrets").TryCode() == 10000);
  get("/api/project/list?page=1&page_size=10", true);
  // Refused credentials: the answer does not repeat what was sent.
  replies.emplace_back(
      "wrong password",
      client.Get("/api/project/list",
                 {{"Authorization", "Basic " + market::Base64Encode("admin:x" + user_password)}}));
  replies.emplace_back(
      "wrong token", client.Get("/api/project/list", {{"Authorization", "Bearer " + token + "x"}}));

  Reply queued = post("/api/project/build",
                      {{"projectName", "secrets"}, {"operator", "admin"}, {"tag", "v1"}}, true);
  INFO(queued.body);
  REQUIRE(queued.TryCode() == 10000);
  const std::string id = queued.TryJson()["content"]["idStr"];
  json build;
  REQUIRE(WaitFor(
      [&] {
        Reply history = get("/api/project/buildHistory?projectName=secrets");
        build = history.TryJson()["content"]["latest"];
        return build.is_object() && build["state"] != "queued" && build["state"] != "running";
      },
      300s, 500ms));
  Reply log = get("/api/project/buildLog?id=" + id);
  INFO("build: " << build.dump() << "\nlog: " << log.body);
  // The secrets were really used: the checkout authenticated and the push went through.
  CHECK(build["state"] == "succeeded");
  CHECK(git.authorized_requests() > 0);
  CHECK_THAT(log.body, Catch::Contains("served-over-http"));

  get("/projects?page=1&page_size=10&project_name=");
  get("/repositories/tags?repo_name=default_cluster/secrets&page=1&page_size=10");
  get("/repositories/manifests?repo_name=default_cluster/secrets&tag=v1");
  get("/readyz");
  get("/api/plugin/schemas");
  get("/api/audit?page=1&page_size=50");
  get("/metrics");

  // The build cache: every tag and layer of the project's cache repository (the build pushed
  // each step there) is free of the secrets.
  CHECK_THAT(log.body, Catch::Contains("Pushing cache"));
  const auto cached = RepositoryContents(registry, "pusher", registry_password,
                                         "default_cluster/secrets/buildcache", dir.path());
  CHECK(cached.size() > 3);  // the tags, and manifests with their blobs
  bool saw_checkout = false;
  for (const auto& [what, content] : cached) {
    if (content.find("served-over-http") != std::string::npos) saw_checkout = true;
    for (const std::string& secret : secrets) {
      INFO("build cache " << what << ": secret " << secret.substr(0, secret.find('-')));
      CHECK(content.find(secret) == std::string::npos);
    }
  }
  CHECK(saw_checkout);  // the search reached the layer holding the checked-out files

  // The search itself works: the one place the registry password must be is the server's
  // environment, where this test put it.
  CHECK(ReadFileOrEmpty("/proc/" + std::to_string(server.pid()) + "/environ").find(registry_password) !=
        std::string::npos);
  server.Signal(SIGTERM);
  REQUIRE(server.Wait(60s).has_value());
  watch.Stop();
  const std::string server_log = server.Log();

  CHECK(watch.samples() > 10);
  CHECK(watch.saw_buildah());
  CHECK(watch.saw_git());
  CHECK(watch.leaks().empty());
  for (const std::string& leak : watch.leaks()) FAIL_CHECK("secret on a command line: " << leak);
  CHECK(server_log.find("build") != std::string::npos);
  for (const std::string& secret : secrets) {
    INFO("secret " << secret.substr(0, secret.find('-')));
    auto at = server_log.find(secret);
    if (at != std::string::npos) {
      FAIL_CHECK("in the server log: ..." << server_log.substr(at < 200 ? 0 : at - 200, 400));
    }
    for (const auto& [what, reply] : replies) {
      INFO(what);
      CHECK(reply.body.find(secret) == std::string::npos);
      for (const auto& [name, value] : reply.headers) {
        CHECK(value.find(secret) == std::string::npos);
      }
    }
  }
}

}  // namespace market::fault
