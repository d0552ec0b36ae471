// docs/ops.md against the code: the registry error codes it lists for
// market_registry_errors_total are every code the registry clients (harbor_client/src) can answer.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "market/error.hpp"

#ifndef MARKET_SOURCE_DIR
#error "MARKET_SOURCE_DIR must name the source tree"
#endif

namespace market {
namespace {

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Errc's names as the source spells them; a name missing here fails the test (add it).
const std::map<std::string, Errc> kCodes = {
    {"kOk", Errc::kOk},
    {"kAlreadyExists", Errc::kAlreadyExists},
    {"kCloneSourceMissing", Errc::kCloneSourceMissing},
    {"kDeleteTargetMissing", Errc::kDeleteTargetMissing},
    {"kExtensionBadParams", Errc::kExtensionBadParams},
    {"kExtensionCallFailed", Errc::kExtensionCallFailed},
    {"kInvalid", Errc::kInvalid},
    {"kBuildProjectMissing", Errc::kBuildProjectMissing},
    {"kNotFound", Errc::kNotFound},
    {"kUnknownPlugin", Errc::kUnknownPlugin},
    {"kBuildActive", Errc::kBuildActive},
    {"kBuildNotFound", Errc::kBuildNotFound},
    {"kBuildFinished", Errc::kBuildFinished},
    {"kRegistryNotConfigured", Errc::kRegistryNotConfigured},
    {"kUpstreamFailed", Errc::kUpstreamFailed},
    {"kUpstreamTimeout", Errc::kUpstreamTimeout},
    {"kTagShared", Errc::kTagShared},
    {"kUnavailable", Errc::kUnavailable},
    {"kUnauthorized", Errc::kUnauthorized},
    {"kForbidden", Errc::kForbidden},
    {"kTooManyRequests", Errc::kTooManyRequests},
    {"kRegistryUnsupported", Errc::kRegistryUnsupported},
    {"kInternal", Errc::kInternal},
};

}  // namespace

TEST_CASE("docs/ops.md lists every code a registry call can fail with", "[docs]") {
  const std::filesystem::path source(MARKET_SOURCE_DIR);
  std::set<int> answered;
  const std::regex kUse(R"(Errc::(k[A-Za-z]+))");
  for (const auto& file : std::filesystem::directory_iterator(source / "harbor_client/src")) {
    if (file.path().extension() != ".cpp") continue;
    std::string text = ReadText(file.path());
    for (std::sregex_iterator it(text.begin(), text.end(), kUse), end; it != end; ++it) {
      std::string name = (*it)[1];
      INFO(file.path().filename().string() << ": Errc::" << name);
      REQUIRE(kCodes.count(name) == 1);
      if (name != "kOk") answered.insert(static_cast<int>(kCodes.at(name)));
    }
  }
  REQUIRE(answered.size() >= 4);

  std::istringstream ops(ReadText(source / "docs/ops.md"));
  std::string row;
  for (std::string line; std::getline(ops, line);) {
    if (line.starts_with("| `market_registry_errors_total`")) row = line;
  }
  REQUIRE_FALSE(row.empty());
  for (int code : answered) {
    INFO("code " << code << " is not in ops.md's market_registry_errors_total row");
    CHECK(row.find(std::to_string(code)) != std::string::npos);
  }
}

}  // namespace market
