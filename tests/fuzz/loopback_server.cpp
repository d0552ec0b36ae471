#include "loopback_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace market::fuzz {

namespace {

bool SendAll(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t ContentLength(const std::string& head) {
  std::string lower;
  for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return 0;
  return std::strtoul(lower.c_str() + at + 17, nullptr, 10);
}

}  // namespace

LoopbackServer::LoopbackServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (listen_fd_ < 0 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("loopback server");
    std::abort();
  }
  origin_ = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  std::thread([this] { AcceptLoop(); }).detach();
}

LoopbackServer::~LoopbackServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
}

void LoopbackServer::SetAnswers(std::vector<Answer> answers) {
  std::lock_guard lock(mutex_);
  answers_ = std::move(answers);
  next_ = 0;
}

bool LoopbackServer::WaitForConnectionsClosed(std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  return connections_changed_.wait_for(lock, limit, [this] { return open_connections_ == 0; });
}

LoopbackServer::Answer LoopbackServer::Next() {
  std::lock_guard lock(mutex_);
  if (next_ < answers_.size()) return answers_[next_++];
  return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", ""};
}

void LoopbackServer::AcceptLoop() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    {
      std::lock_guard lock(mutex_);
      ++open_connections_;
    }
    // One thread per connection: the client may hold one connection idle while it opens another.
    std::thread([this, fd] {
      Serve(fd);
      ::close(fd);
      std::lock_guard lock(mutex_);
      --open_connections_;
      connections_changed_.notify_all();
    }).detach();
  }
}

void LoopbackServer::Serve(int fd) {
  std::string buffer;
  char chunk[4096];
  for (;;) {
    // The clients under test send well-formed requests: a head, then Content-Length bytes.
    std::size_t end = buffer.find("\r\n\r\n");
    while (end == std::string::npos) {
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return;
      buffer.append(chunk, static_cast<std::size_t>(n));
      end = buffer.find("\r\n\r\n");
    }
    const std::string head = buffer.substr(0, end + 2);
    const std::size_t total = end + 4 + ContentLength(head);
    while (buffer.size() < total) {
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    buffer.erase(0, total);
    const Answer answer = Next();
    const bool head_request = head.starts_with("HEAD ");
    if (!SendAll(fd, answer.head + (head_request ? std::string() : answer.body))) return;
  }
}

}  // namespace market::fuzz
