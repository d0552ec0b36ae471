#pragma once
// Hosts "beyond this machine" for the sandbox tests, made on this machine: a network namespace
// of the test's own behind a veth pair, holding an "outside" address (198.18.0.2, the
// benchmarking range, routed through this host like any address beyond it) and a fake cloud
// metadata address (the link-local 169.254.169.254), each with a web server on port 8080
// serving /probe.txt. The host side holds 198.18.0.1 and 169.254.169.1, which are then this
// host's own addresses. Needs root.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/ports.hpp"  // Listening
#include "support/test_env.hpp"

namespace market::testing {

class TestHosts {
 public:
  TestHosts();
  ~TestHosts();
  TestHosts(const TestHosts&) = delete;
  TestHosts& operator=(const TestHosts&) = delete;

  static bool Possible();
  // Runs `argv` in the namespace (a server on 198.18.0.2) until the object goes.
  void Serve(std::vector<std::string> argv);
  // The namespace's name: /run/netns/<name>.
  const std::string& name() const { return name_; }

 private:
  std::string Veth(const char* side) const;

  std::string name_;
  TempDir www_;
  std::vector<std::jthread> servers_;
};

// A listener on every address of this host (what a service bound to 0.0.0.0 is), counting
// the connections it accepts; each is closed at once, so a probe that reaches it ends without
// waiting.
class HostListener {
 public:
  HostListener();
  ~HostListener();
  HostListener(const HostListener&) = delete;
  HostListener& operator=(const HostListener&) = delete;
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::jthread thread_;
};

// An HTTP server in the test hosts' namespace on 198.18.0.2:<port> that answers every request
// with a redirect to `target` + the request's path, as a hostile source server would.
class RedirectServer {
 public:
  RedirectServer(const TestHosts& hosts, int port, std::string target);
  int requests() const { return requests_; }

 private:
  void Answer(int client);

  std::string target_;
  std::atomic<int> requests_{0};
  std::jthread thread_;
};

}  // namespace market::testing
