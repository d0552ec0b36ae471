#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "base64.hpp"

namespace market::testing {

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r' || text.back() == '\n' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  std::size_t start = 0;
  while (start < text.size() && (text[start] == ' ' || text[start] == '\t')) ++start;
  return text.substr(start);
}

namespace {

using Clock = std::chrono::steady_clock;

bool HasHeader(const Headers& headers, const std::string& lower_name) {
  for (const auto& [name, value] : headers) {
    if (Lower(name) == lower_name) return true;
  }
  return false;
}

// A socket connected from `from` to 127.0.0.1:`port`; -1 when that fails (errno says why).
int ConnectLoopback(int port, std::chrono::milliseconds timeout, const std::string& from) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (from != "127.0.0.1") {
    ::inet_pton(AF_INET, from.c_str(), &addr.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return -1;
    }
  }
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace


// ---- Reply ----

nlohmann::json Reply::Json() const {
  nlohmann::json parsed = TryJson();
  INFO("status " << status << " " << error << ", body: " << body);
  REQUIRE_FALSE(parsed.is_discarded());
  return parsed;
}

int Reply::Code() const {
  nlohmann::json parsed = Json();
  INFO("body: " << body);
  REQUIRE(parsed.contains("code"));
  return parsed["code"].get<int>();
}

nlohmann::json Reply::TryJson() const { return nlohmann::json::parse(body, nullptr, false); }

int Reply::TryCode() const {
  auto json = TryJson();
  if (!json.is_object() || !json.contains("code") || !json["code"].is_number_integer()) return -1;
  return json["code"].get<int>();
}

std::string Reply::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

// ---- wire ----

MessageHead ParseHead(const std::string& head) {
  MessageHead parsed;
  std::istringstream in(head);
  std::string line;
  std::getline(in, line);
  if (line.starts_with("HTTP/") && line.size() >= 12) {
    parsed.status = std::atoi(line.substr(9, 3).c_str());
  }
  while (std::getline(in, line)) {
    line = Trim(line);
    auto colon = line.find(':');
    if (line.empty() || colon == std::string::npos) continue;
    parsed.headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
  }
  return parsed;
}

std::optional<std::string> Dechunk(const std::string& data) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto eol = data.find("\r\n", pos);
    if (eol == std::string::npos) return std::nullopt;
    std::size_t size = std::strtoul(data.substr(pos, eol - pos).c_str(), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      if (data.find("\r\n", pos) == std::string::npos) return std::nullopt;
      return out;
    }
    if (data.size() < pos + size + 2) return std::nullopt;
    out.append(data, pos, size);
    pos += size + 2;
  }
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool ReadMore(int fd, std::string& buffer, std::string& error) {
  char chunk[16384];
  for (;;) {
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) {
      error = "connection closed by the server";
      return false;
    }
    if (errno == EINTR) continue;
    error = (errno == EAGAIN || errno == EWOULDBLOCK)
                ? "timed out waiting for the answer"
                : std::string("recv: ") + std::strerror(errno);
    return false;
  }
}

// ---- RawConnection ----

RawConnection::RawConnection(int port, std::chrono::milliseconds timeout, const std::string& from)
    : fd_(ConnectLoopback(port, timeout, from)) {}

RawConnection::~RawConnection() { Close(); }

RawConnection::RawConnection(RawConnection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

bool RawConnection::Write(std::string_view bytes) { return fd_ >= 0 && WriteAll(fd_, bytes); }

bool RawConnection::ReadMore(std::string& buffer, std::string& error) {
  if (fd_ < 0) {
    error = "not connected";
    return false;
  }
  return market::testing::ReadMore(fd_, buffer, error);
}

std::string RawConnection::ReadAll() {
  std::string data, error;
  while (ReadMore(data, error)) {
  }
  return data;
}

bool RawConnection::Readable(std::chrono::milliseconds wait) const {
  if (fd_ < 0) return true;
  pollfd fd{fd_, POLLIN, 0};
  return ::poll(&fd, 1, static_cast<int>(wait.count())) > 0;
}

void RawConnection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string Exchange(int port, std::string_view bytes, std::chrono::milliseconds timeout) {
  RawConnection conn(port, timeout);
  conn.Write(bytes);
  return conn.ReadAll();
}

// ---- HttpClient ----

HttpClient::HttpClient(int port, std::chrono::milliseconds timeout, std::string from)
    : port_(port), timeout_(timeout), from_(std::move(from)) {
  Connect();
}

bool HttpClient::Connect() {
  if (conn_.connected()) return true;
  conn_ = RawConnection(port_, timeout_, from_);
  if (!conn_.connected()) return false;
  ++reconnects_;
  return true;
}

bool HttpClient::ClosedByServer(std::chrono::milliseconds wait) {
  return !conn_.connected() || conn_.Readable(wait);
}

Reply HttpClient::Send(const std::string& method, const std::string& target,
                       const std::string& body, const std::string& content_type,
                       const Headers& headers) {
  return Exchange(method, target, body, content_type, headers, false);
}

Reply HttpClient::Request(boost::beast::http::verb method, const std::string& target,
                          const std::string& body, const std::string& content_type,
                          const Headers& headers) {
  return Send(std::string(boost::beast::http::to_string(method)), target, body, content_type,
              headers);
}

Reply HttpClient::GetHead(const std::string& target, const Headers& headers) {
  return Exchange("GET", target, "", "", headers, true);
}

Reply HttpClient::Exchange(const std::string& method, const std::string& target,
                           const std::string& body, const std::string& content_type,
                           const Headers& headers, bool head_only) {
  Reply reply;
  auto start = Clock::now();
  auto finish = [&](bool close) -> Reply {
    if (close) Close();
    reply.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return std::move(reply);
  };
  if (!Connect()) {
    reply.error = std::string("connect: ") + std::strerror(errno);
    return finish(false);
  }
  std::string request = method + " " + target + " HTTP/1.1\r\n";
  if (!HasHeader(headers, "host")) request += "Host: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (!content_type.empty() && !HasHeader(headers, "content-type")) {
    request += "Content-Type: " + content_type + "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (!conn_.Write(request)) {
    reply.error = std::string("send: ") + std::strerror(errno);
    return finish(true);
  }
  std::string data;
  std::size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!conn_.ReadMore(data, reply.error)) return finish(true);
  }
  MessageHead head = ParseHead(data.substr(0, head_end));
  std::string rest = data.substr(head_end + 4);
  bool close_after = Lower(head.headers["connection"]) == "close";
  if (head_only && head.status == 200) {
    reply.body = rest;
    close_after = false;  // the stream stays open until the caller closes it
  } else if (head.status == 204 || head.status == 304) {
    // No body by definition.
  } else if (auto it = head.headers.find("content-length"); it != head.headers.end()) {
    std::size_t length = std::strtoul(it->second.c_str(), nullptr, 10);
    while (rest.size() < length) {
      if (!conn_.ReadMore(rest, reply.error)) return finish(true);
    }
    reply.body = rest.substr(0, length);
  } else if (Lower(head.headers["transfer-encoding"]).find("chunked") != std::string::npos) {
    std::optional<std::string> decoded;
    while (!(decoded = Dechunk(rest))) {
      if (!conn_.ReadMore(rest, reply.error)) return finish(true);
    }
    reply.body = *decoded;
  } else {
    std::string ignored;
    while (conn_.ReadMore(rest, ignored)) {
    }
    reply.body = rest;
    close_after = true;
  }
  reply.status = head.status;
  reply.headers = std::move(head.headers);
  return finish(close_after);
}

Reply Call(int port, boost::beast::http::verb method, const std::string& target,
           const std::string& body, const std::string& content_type, const Headers& headers) {
  HttpClient client(port);
  return client.Request(method, target, body, content_type, headers);
}

std::string BasicAuthorization(const std::string& user, const std::string& password) {
  return "Basic " + market::Base64Encode(user + ":" + password);
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace market::testing
