// Replays every input under tests/fuzz/regressions/<harness>/ (each once found by a fuzzer)
// through the same checks the harnesses run.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fuzz_checks.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> InputsOf(const std::string& harness) {
  std::vector<fs::path> files;
  for (const fs::path& dir : {fs::path(MARKET_FUZZ_DIR) / "regressions" / harness,
                              fs::path(MARKET_FUZZ_DIR) / "corpus" / harness}) {
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().filename() != "README") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

template <class Check>
void Replay(const std::string& harness, Check check) {
  const auto files = InputsOf(harness);
  // The seed corpus alone guarantees inputs; an empty list means the folder moved.
  REQUIRE_FALSE(files.empty());
  for (const fs::path& file : files) {
    INFO(file.string());
    // The problem's text is the failure message.
    CHECK(check(Read(file)).value_or("") == "");
  }
}

}  // namespace

TEST_CASE("request decoding inputs found by fuzzing stay fixed", "[fuzz]") {
  Replay("request_decoding", market::fuzz::CheckRequestDecoding);
}

TEST_CASE("plugin rendering inputs found by fuzzing stay fixed", "[fuzz]") {
  Replay("plugin_render", market::fuzz::CheckPluginRendering);
}

TEST_CASE("registry response inputs found by fuzzing stay fixed", "[fuzz]") {
  Replay("registry_response", market::fuzz::CheckRegistryParsing);
}
