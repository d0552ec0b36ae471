#include "support/test_env.hpp"

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
