#pragma once
// `git daemon` serving a folder of bare repositories over git:// on a free loopback port, for
// tests of checkouts and builds from git.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace market::testing {

// The fixed git identity commits need, as environment variables.
const std::vector<std::pair<std::string, std::string>>& GitIdentity();

// Runs the shell `command` in `dir` with that git identity (commits need one); its standard
// output, trimmed. A failing command fails the test.
std::string GitShell(const std::filesystem::path& dir, const std::string& command);

class GitServer {
 public:
  // Serves every repository under `base` (e.g. base/repo.git as Url("repo.git")); returns once
  // the daemon accepts connections, throws std::runtime_error if it never does.
  explicit GitServer(const std::filesystem::path& base);
  ~GitServer();  // stops the daemon and its children
  GitServer(const GitServer&) = delete;
  GitServer& operator=(const GitServer&) = delete;

  // git://127.0.0.1:PORT/<repository>
  std::string Url(const std::string& repository) const;

 private:
  void Stop();

  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace market::testing
