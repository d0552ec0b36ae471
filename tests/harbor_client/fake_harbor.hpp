#pragma once
// A fake Harbor 2.x on loopback: the parts of its API v2.0, /v2/ and /service/token that
// HarborRegistry uses, answering as Harbor's handlers do (each behaviour cites the Harbor source
// it comes from, paths relative to goharbor/harbor). State is set up by the test; every request
// is recorded.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harbor_client/fake_http_server.hpp"

namespace market::testing {

struct HarborAccount {
  enum class Kind {
    kAdmin,         // the system administrator (user id 1)
    kUser,          // a local or LDAP user with a password
    kOidcUser,      // an OIDC user signing in with the CLI secret from their profile
    kSystemRobot,   // robot$<name>, level "system", covering every project
    kProjectRobot,  // robot$<project>+<name>, level "project"
  };
  Kind kind = Kind::kUser;
  std::string name;
  std::string secret;               // password, CLI secret or robot secret
  std::set<std::string> member_of;  // users: projects they are members of (developer role)
  std::string project;              // project robots: their project
  bool can_create_project = false;  // system robots: the system permission Project: Create
};

struct HarborImage {
  std::int64_t id = 0;  // artifact id: grows with every push
  std::string digest;
  std::string manifest;
  std::string config;
  std::int64_t size = 0;  // as Harbor counts it: manifest + config + layers
  std::string created;    // extra_attrs.created, from the config
  std::string push_time;
  std::vector<std::string> tags;
};

class FakeHarbor {
 public:
  FakeHarbor();

  std::string Url() const { return server_.Url(); }
  std::vector<RecordedRequest> Requests() const { return server_.Requests(); }
  // Requests whose "METHOD path" starts with `prefix` ("GET /api/v2.0/projects").
  int Count(const std::string& prefix) const;

  void AddAccount(HarborAccount account);
  std::int64_t AddProject(const std::string& name, bool is_public,
                          const std::string& creation_time = "2024-01-01T00:00:00Z");
  // Pushes a one-layer image to "<project>/<repository>" under `tags`, taking each tag from any
  // artifact that carried it. `created` goes into the config as given.
  const HarborImage& Push(const std::string& repository, const std::vector<std::string>& tags,
                          const std::string& created = "2024-01-02T03:04:05Z",
                          std::int64_t layer_size = 1000);
  void MakeImmutable(const std::string& repository, const std::string& tag);
  // Configuration: auth_mode oidc_auth, project_creation_restriction adminonly.
  void SetOidcMode(bool on);
  void SetAdminOnlyProjectCreation(bool on);
  // The next `count` requests starting with `prefix` (as in Count) answer `response` instead,
  // as a proxy in front of a restarting Harbor core would.
  void FailNext(const std::string& prefix, int count, FakeResponse response);
  // Called on the server's thread before an artifact listing is read, with the number of the
  // listing request (1, 2, ...); it may Push (the lock is recursive).
  void OnArtifactList(std::function<void(int call)> hook);
  // Every answer waits this long first.
  void SetDelay(std::chrono::milliseconds delay);

 private:
  struct Project {
    std::int64_t id = 0;
    std::string name;
    bool is_public = false;
    std::string creation_time;
  };
  struct Caller {
    const HarborAccount* account = nullptr;  // nullptr: anonymous
    bool authenticated() const { return account != nullptr; }
  };

  FakeResponse Answer(const RecordedRequest& request);
  FakeResponse AnswerApi(const RecordedRequest& request, const std::string& path,
                         const std::map<std::string, std::string>& query, const Caller& caller);
  FakeResponse AnswerV2(const RecordedRequest& request, const std::string& path,
                        const Caller& caller);
  FakeResponse AnswerToken(const std::map<std::string, std::string>& query, const Caller& caller);
  Caller Identify(const RecordedRequest& request, const std::string& path) const;
  const Project* FindProject(const std::string& name) const;
  bool Can(const Caller& caller, const Project* project, const std::string& action) const;
  std::optional<FakeResponse> RequireProjectAccess(const Caller& caller,
                                                   const std::string& project_name,
                                                   const std::string& action) const;
  bool Visible(const Caller& caller, const Project& project) const;

  mutable std::recursive_mutex mutex_;
  std::deque<HarborAccount> accounts_;  // a deque: callers and tokens point into it
  std::vector<Project> projects_;
  std::map<std::string, std::vector<HarborImage>> repositories_;  // full name -> artifacts
  std::set<std::string> immutable_;                               // "<repository>:<tag>"
  std::map<std::string, const HarborAccount*> tokens_;            // bearer token -> account
  std::int64_t next_project_id_ = 1;
  std::int64_t next_artifact_id_ = 1;
  bool oidc_ = false;
  bool admin_only_creation_ = false;
  std::vector<std::pair<std::string, std::pair<int, FakeResponse>>> failures_;
  std::function<void(int)> on_artifact_list_;
  int artifact_lists_ = 0;
  std::chrono::milliseconds delay_{0};
  FakeHttpServer server_;  // last: stops before the state it reads goes away
};

}  // namespace market::testing
