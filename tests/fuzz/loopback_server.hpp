#pragma once
// An HTTP/1.1 server on 127.0.0.1 for the registry fuzz check: it answers requests, in order, with
// raw responses the fuzz input chose, so the real registry clients parse them end to end.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace market::fuzz {

class LoopbackServer {
 public:
  LoopbackServer();  // listens on an ephemeral port; aborts when it cannot
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  const std::string& Origin() const { return origin_; }  // http://127.0.0.1:PORT
  // Head and body of each answer ("HTTP/1.1 ..." up to the blank line, then the body); the body
  // is left out for HEAD requests. Once they are used up every request gets a 404.
  struct Answer {
    std::string head;
    std::string body;
  };
  void SetAnswers(std::vector<Answer> answers);
  // Waits until every accepted connection is closed and its thread done with its buffers; false
  // when one is still open after `limit`. A check calls it once its client is gone, so no
  // connection thread holds memory when libFuzzer looks for leaks after the input (LeakSanitizer
  // in clang 16 does not scan other threads' fake stacks, where their locals live).
  bool WaitForConnectionsClosed(std::chrono::milliseconds limit);

 private:
  void AcceptLoop();
  void Serve(int fd);  // answers on `fd` until the peer closes it; the caller closes `fd`
  Answer Next();

  int listen_fd_ = -1;
  std::string origin_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable connections_changed_;
  std::size_t open_connections_ = 0;  // guarded by mutex_
  std::vector<Answer> answers_;
  std::size_t next_ = 0;
};

}  // namespace market::fuzz
