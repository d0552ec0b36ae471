#pragma once
// Where the test services are. .ci/run and scripts/test.sh start them and export:
//   MARKET_TEST_POSTGRES_URL  postgresql://... of a throwaway server (PostgreSQL tests skip without)
//   MARKET_TEST_REGISTRY      host:port of a docker-registry with deletes enabled

#include <filesystem>
#include <optional>
#include <string>

namespace market::testing {

std::optional<std::string> PostgresUrl();
std::optional<std::string> RegistryHost();

// A whole file read with read(2); what could be read when it fails midway. For /proc/PID/...
// of processes that may exit while they are read: libstdc++'s filebuf throws from underflow
// when read() fails (ESRCH), and an uncaught throw in a watcher thread ends the test run.
std::string ReadFileOrEmpty(const std::filesystem::path& path);

// A fresh empty folder under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace market::testing
