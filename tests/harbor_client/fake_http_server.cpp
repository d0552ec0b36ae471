#include "harbor_client/fake_http_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <stdexcept>

#include "support/ports.hpp"

namespace market::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

FakeHttpServer::FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ListenLoopback(port_);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeHttpServer::~FakeHttpServer() {
  stopping_ = true;
  stop_cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes threads blocked in read
  }
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

std::string FakeHttpServer::Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::vector<RecordedRequest> FakeHttpServer::Requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void FakeHttpServer::AcceptLoop() {
  while (!stopping_) {
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) break;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      break;
    }
    open_fds_.push_back(fd);
    const int number = ++connections_;
    threads_.emplace_back([this, fd, number] { Serve(fd, number); });
  }
}

void FakeHttpServer::Serve(int fd, int number) {
  asio::io_context ioc;
  asio::ip::tcp::socket socket(ioc, asio::ip::tcp::v4(), fd);
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec) break;
    RecordedRequest recorded;
    recorded.method = std::string(req.method_string());
    recorded.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      recorded.headers[name] = std::string(field.value());
    }
    recorded.body = req.body();
    recorded.connection = number;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(recorded);
    }
    FakeResponse answer = handler_(recorded);
    if (answer.delay.count() > 0) {
      std::unique_lock lock(mutex_);
      stop_cv_.wait_for(lock, answer.delay, [this] { return stopping_.load(); });
    }
    if (stopping_) break;
    http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
    for (const auto& [name, value] : answer.headers) res.set(name, value);
    res.body() = answer.body;
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      res.content_length(answer.body.size());
      http::response<http::empty_body> head{res.result(), 11};
      for (const auto& field : res) head.set(field.name_string(), field.value());
      http::write(socket, head, ec);
    } else {
      res.prepare_payload();
      http::write(socket, res, ec);
    }
    if (ec || !req.keep_alive()) break;
  }
  beast::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  // The fd is closed with `socket`; forget it so the destructor does not touch a reused number.
  std::lock_guard lock(mutex_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
}

}  // namespace market::testing
