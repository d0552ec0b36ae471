#pragma once
// What the other processes on the machine run and hold, read from /proc: once, or sampled on a
// thread until stopped (tests that no secret reaches a command line or a child's environment).

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace market::testing {

// The command lines (NUL bytes as spaces) of every process on the machine but this one.
std::vector<std::pair<pid_t, std::string>> CommandLines();
// The environments (NAME=value, space-separated) of every process but this one.
std::vector<std::pair<pid_t, std::string>> Environments();
// One process's command line, NUL bytes as spaces; "" when it is gone.
std::string CommandLineOf(pid_t pid);

// Calls `visit` with every other process's command line or environment (as above), every 20 ms
// on a thread of its own, until Stop() or destruction. `visit` runs on that thread.
class ProcessWatch {
 public:
  enum class Field { kCommandLine, kEnvironment };
  using Visit = std::function<void(pid_t pid, const std::string& text)>;

  ProcessWatch(Field field, Visit visit);
  ~ProcessWatch();
  ProcessWatch(const ProcessWatch&) = delete;
  ProcessWatch& operator=(const ProcessWatch&) = delete;

  void Stop();
  int samples() const { return samples_; }  // complete passes over /proc so far

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0};
  std::thread thread_;
};

}  // namespace market::testing
