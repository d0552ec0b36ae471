#include "support/process_watch.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "support/test_env.hpp"

namespace market::testing {

namespace {

std::string NulsAsSpaces(std::string text) {
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

// `file` of /proc/PID for every process on the machine but this one, NUL bytes as spaces.
std::vector<std::pair<pid_t, std::string>> ProcFiles(const char* file) {
  std::vector<std::pair<pid_t, std::string>> out;
  const pid_t self = ::getpid();
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    pid_t pid = std::atoi(name.c_str());
    if (pid == self) continue;
    std::string text = NulsAsSpaces(ReadFileOrEmpty(it->path() / file));
    if (!text.empty()) out.emplace_back(pid, std::move(text));
  }
  return out;
}

}  // namespace

std::vector<std::pair<pid_t, std::string>> CommandLines() { return ProcFiles("cmdline"); }

std::vector<std::pair<pid_t, std::string>> Environments() { return ProcFiles("environ"); }

std::string CommandLineOf(pid_t pid) {
  return NulsAsSpaces(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline"));
}

ProcessWatch::ProcessWatch(Field field, Visit visit) {
  thread_ = std::thread([this, field, visit = std::move(visit)] {
    while (!stop_) {
      for (const auto& [pid, text] :
           field == Field::kCommandLine ? CommandLines() : Environments()) {
        visit(pid, text);
      }
      ++samples_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

ProcessWatch::~ProcessWatch() { Stop(); }

void ProcessWatch::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace market::testing
