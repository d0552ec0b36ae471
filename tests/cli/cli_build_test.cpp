// `market build --follow` against a server with a real registry and buildah. Runs only when
// MARKET_TEST_REGISTRY is set and buildah is installed; pushes <registry>/base/busybox:latest
// first (scripts/make-base-image.sh) when the registry lacks it.

#include <catch2/catch.hpp>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_harness.hpp"

namespace {

using Catch::Matchers::Contains;
using market::cli::testing::RunAgainst;
using market::cli::testing::RunResult;
using market::cli::testing::ServerProcess;

bool HaveBuildah() { return std::system("command -v buildah >/dev/null 2>&1") == 0; }

std::string Pipeline(const std::string& registry, const std::string& command) {
  nlohmann::json pipeline =
      nlohmann::json::array({{{"$$plugin", "base_image_choose_from_harbor"},
                              {"handleInput", registry + "/base/busybox:latest"}},
                             {{"$$plugin", "run"}, {"value", {command}}}});
  return pipeline.dump();
}

}  // namespace

TEST_CASE("build --follow streams the log and exits with the build's outcome",
          "[cli][build][registry]") {
  std::optional<std::string> registry = market::testing::RegistryHost();
  if (!registry || !HaveBuildah()) {
    WARN("MARKET_TEST_REGISTRY is not set or buildah is missing: skipping market build");
    return;
  }
  const std::string script = std::string(MARKET_SOURCE_DIR) + "/scripts/make-base-image.sh";
  REQUIRE(std::system((script + " " + *registry + " >/dev/null").c_str()) == 0);

  ServerProcess server({"--registry", "http://" + *registry, "--registry-insecure"});
  INFO("server log: " << server.Log());

  // The project name is unique per run: the registry outlives the test.
  const std::string project = "cli-build-" + std::to_string(::getpid());
  REQUIRE(RunAgainst(server, {"save", project, "--file", "-"},
                     Pipeline(*registry, "echo hello-from-the-cli-test"))
              .status == 0);

  RunResult built = RunAgainst(server, {"build", project, "--tag", "v1", "--follow"});
  INFO("stdout: " << built.out << "\nstderr: " << built.err << "\nserver log: " << server.Log());
  CHECK(built.status == 0);
  CHECK_THAT(built.out, Contains("hello-from-the-cli-test"));
  CHECK_THAT(built.err, Contains("succeeded") &&
                            Contains(*registry + "/default_cluster/" + project + ":v1@sha256:"));
  std::smatch id_match;
  REQUIRE(std::regex_search(built.err, id_match, std::regex(R"(build (\d+) of )")));
  const std::string id = id_match[1];

  RunResult history = RunAgainst(server, {"history", project});
  INFO("history: " << history.out << history.err);
  CHECK(history.status == 0);
  CHECK_THAT(history.out, Contains("DIGEST") && Contains("v1") && Contains("succeeded") &&
                              Contains("sha256:") && Contains("total: 1 build"));

  // The same build again reuses its cached step (which then prints nothing); --no-cache runs
  // it again.
  RunResult warm = RunAgainst(server, {"build", project, "--tag", "v1", "--follow"});
  INFO("warm: " << warm.out << warm.err);
  CHECK(warm.status == 0);
  CHECK_THAT(warm.out, Contains("Using cache"));
  CHECK_THAT(warm.out, !Contains("\nhello-from-the-cli-test"));
  RunResult cold = RunAgainst(server, {"build", project, "--tag", "v1", "--follow", "--no-cache"});
  INFO("cold: " << cold.out << cold.err);
  CHECK(cold.status == 0);
  CHECK_THAT(cold.out, Contains("--no-cache"));
  CHECK_THAT(cold.out, Contains("\nhello-from-the-cli-test"));

  // Cancelling a build that has ended is the server's 10012.
  RunResult cancel = RunAgainst(server, {"cancel", id});
  CHECK(cancel.status == 1);
  CHECK_THAT(cancel.err, Contains("error 10012"));

  // A failing step: the log still shows up and the exit code is 1.
  REQUIRE(RunAgainst(server, {"save", project, "--file", "-"},
                     Pipeline(*registry, "echo about-to-fail && exit 3"))
              .status == 0);
  RunResult failed = RunAgainst(server, {"build", project, "--tag", "v2", "--follow"});
  INFO("stdout: " << failed.out << "\nstderr: " << failed.err);
  CHECK(failed.status == 1);
  CHECK_THAT(failed.out, Contains("about-to-fail"));
  CHECK_THAT(failed.err, Contains("failed"));

  // Without --follow the id alone goes to stdout (for scripts); a long build, so that the
  // cancel finds it queued or running whatever the machine's speed.
  REQUIRE(RunAgainst(server, {"save", project, "--file", "-"}, Pipeline(*registry, "sleep 120"))
              .status == 0);
  RunResult queued = RunAgainst(server, {"build", project, "--tag", "v3"});
  CHECK(queued.status == 0);
  REQUIRE(std::regex_match(queued.out, std::regex(R"(\d+\n)")));
  RunResult cancelled = RunAgainst(server, {"cancel", queued.out.substr(0, queued.out.size() - 1)});
  INFO("cancel: " << cancelled.out << cancelled.err);
  CHECK(cancelled.status == 0);
  CHECK_THAT(cancelled.out, Contains("build " + queued.out.substr(0, queued.out.size() - 1)));
}
