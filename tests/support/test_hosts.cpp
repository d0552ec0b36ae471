#include "support/test_hosts.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "process/process.hpp"

namespace market::testing {

using namespace std::chrono_literals;

namespace {

void Ip(std::vector<std::string> args, bool must = true) {
  args.insert(args.begin(), "ip");
  process::Spec spec;
  spec.argv = std::move(args);
  std::string out;
  auto r = process::Run(spec, [&](std::string_view l) { out += std::string(l) + "\n"; }, {});
  if (!must) return;
  INFO(fmt::format("{}\n{}", fmt::join(spec.argv, " "), out));
  REQUIRE(r);
  REQUIRE(r->Succeeded());
}

}  // namespace

// A name of its own for each TestHosts of the run: nothing a previous one left behind while
// it was torn down (a server's last child, a route) can answer for this one.
static std::atomic<int> next_hosts{0};

TestHosts::TestHosts()
    : name_(fmt::format("mt-hosts-{}-{}", ::getpid(), next_hosts++)) {
  Ip({"netns", "add", name_});
  Ip({"link", "add", Veth("h"), "type", "veth", "peer", "name", Veth("n")});
  Ip({"link", "set", Veth("n"), "netns", name_});
  Ip({"addr", "add", "198.18.0.1/24", "dev", Veth("h")});
  Ip({"addr", "add", "169.254.169.1/16", "dev", Veth("h")});
  Ip({"link", "set", Veth("h"), "up"});
  Ip({"-n", name_, "addr", "add", "198.18.0.2/24", "dev", Veth("n")});
  Ip({"-n", name_, "addr", "add", "169.254.169.254/16", "dev", Veth("n")});
  Ip({"-n", name_, "link", "set", Veth("n"), "up"});
  Ip({"-n", name_, "link", "set", "lo", "up"});
  std::ofstream(www_.path() / "probe.txt") << "reached-the-server\n";
  for (const char* address : {"198.18.0.2", "169.254.169.254"}) {
    Serve({"busybox", "httpd", "-f", "-p", fmt::format("{}:8080", address), "-h",
           www_.path().string()});
  }
  // The host itself reaches both: what the sandbox refuses is there to be refused.
  for (const char* address : {"198.18.0.2", "169.254.169.254"}) {
    REQUIRE(WaitFor([&] { return Listening(address, 8080); }, 5s, 50ms));
  }
}

TestHosts::~TestHosts() {
  servers_.clear();
  Ip({"netns", "delete", name_}, false);
  Ip({"link", "delete", Veth("h")}, false);
}

bool TestHosts::Possible() { return ::geteuid() == 0; }

void TestHosts::Serve(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"ip", "netns", "exec", name_});
  servers_.emplace_back([argv = std::move(argv)](std::stop_token st) {
    process::Spec spec;
    spec.argv = argv;
    spec.kill_grace = 200ms;
    (void)process::Run(spec, {}, st);
  });
}

std::string TestHosts::Veth(const char* side) const {
  // At most 15 characters: mtv, the side, the pid's last five digits, the object's number.
  return fmt::format("mtv{}{}{}", side, ::getpid() % 100000,
                     name_.substr(name_.rfind('-') + 1));
}

HostListener::HostListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd_, 64) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::jthread([this](std::stop_token st) {
    while (!st.stop_requested()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        int client = ::accept(fd_, nullptr, nullptr);
        if (client >= 0) {
          ++accepted_;
          ::close(client);
        }
      }
    }
  });
}

HostListener::~HostListener() {
  thread_ = {};
  ::close(fd_);
}

// A thread joins a network namespace by itself (setns), so the server listens there while the
// test stays here.
RedirectServer::RedirectServer(const TestHosts& hosts, int port, std::string target)
    : target_(std::move(target)) {
  std::atomic<int> ready{0};  // 1 listening, -1 failed
  thread_ = std::jthread([this, &ready, path = "/run/netns/" + hosts.name(),
                          port](std::stop_token st) {
    int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    int fd = -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "198.18.0.2", &addr.sin_addr);
    int one = 1;
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0 ||
        (fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
      if (ns >= 0) ::close(ns);
      if (fd >= 0) ::close(fd);
      ready = -1;
      return;
    }
    ::close(ns);
    ready = 1;
    while (!st.stop_requested()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      Answer(client);
      ::close(client);
    }
    ::close(fd);
  });
  while (ready == 0) std::this_thread::sleep_for(10ms);
  REQUIRE(ready == 1);
  // Reached from this host, as the sources that use it will reach it.
  REQUIRE(WaitFor([&] { return Listening("198.18.0.2", port); }, 5s, 50ms));
}

void RedirectServer::Answer(int client) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    pollfd p{client, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    ssize_t n = ::read(client, buf, sizeof buf);
    if (n <= 0) return;
    request.append(buf, static_cast<std::size_t>(n));
  }
  ++requests_;
  const auto start = request.find(' ') + 1;
  const std::string path = request.substr(start, request.find(' ', start) - start);
  const std::string answer = fmt::format(
      "HTTP/1.1 301 Moved Permanently\r\nLocation: {}{}\r\nContent-Length: 0\r\n"
      "Connection: close\r\n\r\n",
      target_, path);
  [[maybe_unused]] auto n = ::write(client, answer.data(), answer.size());
}


}  // namespace market::testing
