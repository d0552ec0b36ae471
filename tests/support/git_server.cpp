#include "support/git_server.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <cstdio>

#include "support/ports.hpp"

extern char** environ;

namespace market::testing {

const std::vector<std::pair<std::string, std::string>>& GitIdentity() {
  static const std::vector<std::pair<std::string, std::string>> identity = {
      {"GIT_AUTHOR_NAME", "t"},
      {"GIT_AUTHOR_EMAIL", "t@example.com"},
      {"GIT_COMMITTER_NAME", "t"},
      {"GIT_COMMITTER_EMAIL", "t@example.com"}};
  return identity;
}

std::string GitShell(const std::filesystem::path& dir, const std::string& command) {
  std::string full = "cd '" + dir.string() + "' && ";
  for (const auto& [name, value] : GitIdentity()) full += name + "=" + value + " ";
  full += command;
  std::FILE* pipe = ::popen(full.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  const int status = ::pclose(pipe);
  INFO(full);
  REQUIRE(status == 0);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

GitServer::GitServer(const std::filesystem::path& base) : port_(FreeLoopbackPort()) {
  std::vector<std::string> args = {"git",
                                   "daemon",
                                   "--reuseaddr",
                                   "--export-all",
                                   "--listen=127.0.0.1",
                                   "--port=" + std::to_string(port_),
                                   "--base-path=" + base.string(),
                                   base.string()};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Its own process group: the daemon forks a child per connection, and all go at the end.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  const int spawned = ::posix_spawnp(&pid_, "git", nullptr, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) throw std::runtime_error("cannot start git daemon");
  if (!WaitListening(port_, std::chrono::seconds(5))) {
    Stop();
    throw std::runtime_error("git daemon did not listen on port " + std::to_string(port_));
  }
}

GitServer::~GitServer() { Stop(); }

void GitServer::Stop() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  ::kill(-pid_, SIGKILL);  // connection children that outlived the daemon
  pid_ = -1;
}

std::string GitServer::Url(const std::string& repository) const {
  return "git://127.0.0.1:" + std::to_string(port_) + "/" + repository;
}

}  // namespace market::testing
