#pragma once
// For the checkout tests: a shell script run with a fixed git identity (commits need one),
// through libmarket's process runner; and a file read whole.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "process/process.hpp"
#include "support/git_server.hpp"

namespace market::testing {

// `script` under `sh -e` in `cwd`; its output. A failing script fails the test.
inline std::string Sh(const std::string& script, const std::filesystem::path& cwd = {}) {
  process::Spec spec;
  spec.argv = {"sh", "-ec", script};
  spec.cwd = cwd;
  spec.env = GitIdentity();
  std::string out;
  auto r = process::Run(spec, [&](std::string_view l) { out += std::string(l) + "\n"; }, {});
  REQUIRE(r);
  INFO(out);
  REQUIRE(r->Succeeded());
  return out;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace market::testing
