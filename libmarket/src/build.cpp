#include "market/build.hpp"

namespace market {

std::string_view ToString(BuildState state) {
  switch (state) {
    case BuildState::kQueued: return "queued";
    case BuildState::kRunning: return "running";
    case BuildState::kSucceeded: return "succeeded";
    case BuildState::kFailed: return "failed";
    case BuildState::kCancelled: return "cancelled";
  }
  return "failed";
}

std::optional<BuildState> ParseBuildState(std::string_view text) {
  for (BuildState s : {BuildState::kQueued, BuildState::kRunning, BuildState::kSucceeded,
                       BuildState::kFailed, BuildState::kCancelled}) {
    if (ToString(s) == text) return s;
  }
  return std::nullopt;
}

int LegacyStateNumber(BuildState state) {
  switch (state) {
    case BuildState::kQueued:
    case BuildState::kRunning: return 0;
    case BuildState::kSucceeded: return 1;
    case BuildState::kFailed:
    case BuildState::kCancelled: return 2;
  }
  return 2;
}

bool IsFinished(BuildState state) {
  return state == BuildState::kSucceeded || state == BuildState::kFailed ||
         state == BuildState::kCancelled;
}

}  // namespace market
