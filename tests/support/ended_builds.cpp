#include "support/ended_builds.hpp"

#include <chrono>

namespace market::testing {

Result<Build> RecordEndedBuild(BuildStore& builds, const std::string& project,
                               const std::string& tag, TimePoint at, BuildState state,
                               std::string_view log) {
  Build request;
  request.project = project;
  request.tag = tag;
  request.operator_name = "bob";
  request.image = "registry.test:5000/team/" + project + ":" + tag;
  request.queued_at = at;
  MARKET_ASSIGN_OR_RETURN(Build queued, builds.Enqueue(request));
  MARKET_ASSIGN_OR_RETURN(auto claimed,
                          builds.ClaimNext("test-recorder/0", at, at + std::chrono::seconds(30)));
  if (!claimed || claimed->id != queued.id) {
    return Fail(Errc::kInternal, "another queued build was claimed before build " +
                                     std::to_string(queued.id) + " of " + project);
  }
  MARKET_RETURN_IF_ERROR(builds.AppendLog(queued.id, log));
  BuildResult result;
  result.state = state;
  result.digest = state == BuildState::kSucceeded ? "sha256:" + tag : "";
  result.reason = state == BuildState::kSucceeded ? "" : "ended by the test";
  return builds.Finish(queued.id, result, at);
}

}  // namespace market::testing
