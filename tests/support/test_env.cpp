#include "support/test_env.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <system_error>

namespace market::testing {

namespace {
std::optional<std::string> NonEmptyEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}
}  // namespace

std::optional<std::string> PostgresUrl() { return NonEmptyEnv("MARKET_TEST_POSTGRES_URL"); }

std::optional<std::string> RegistryHost() { return NonEmptyEnv("MARKET_TEST_REGISTRY"); }

std::string ReadFileOrEmpty(const std::filesystem::path& path) {
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buffer[8192];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

TempDir::TempDir() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  for (;;) {
    path_ = std::filesystem::temp_directory_path() / ("market-test-" + std::to_string(gen()));
    if (std::filesystem::create_directory(path_)) break;
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace market::testing
