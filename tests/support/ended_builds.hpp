#pragma once
// Build history at chosen times, written through a BuildStore as a worker would leave it: for
// tests of what happens to old builds (log retention).

#include <string>
#include <string_view>

#include "market/build_store.hpp"
#include "market/error.hpp"
#include "market/time.hpp"

namespace market::testing {

// A build of `project` (which exists) queued, claimed, given the log line `log` and ended as
// `state` (succeeded, failed or cancelled), all at `at`. No other queued build may be claimable
// then: kInternal when the claim took another one.
Result<Build> RecordEndedBuild(BuildStore& builds, const std::string& project,
                               const std::string& tag, TimePoint at,
                               BuildState state = BuildState::kSucceeded,
                               std::string_view log = "build log\n");

}  // namespace market::testing
