#pragma once
// A build: one request to turn a project into an image in the registry.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "market/time.hpp"

namespace market {

enum class BuildState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

std::string_view ToString(BuildState state);  // "queued", "running", ...
std::optional<BuildState> ParseBuildState(std::string_view text);
// The original's numbers: 0 queued or running, 1 succeeded, 2 failed or cancelled.
int LegacyStateNumber(BuildState state);
bool IsFinished(BuildState state);

// What started a build, besides a person asking for it. Empty kind: a person (API, CLI, page).
struct BuildTrigger {
  // "git-push" (a branch or tag pushed; `ref` says which), "start" (a trigger started by
  // hand), "base-image" (a base image changed); empty: a person asked (shown as "manual").
  std::string kind;
  std::int64_t trigger_id = 0;  // the build trigger, 0: none
  std::string ref;         // "refs/heads/main", "refs/tags/v1", ...
  std::string sha;         // the commit the build checks out; empty: the ref's head then
  std::string repository;  // the source URL, as the project names it, the commit belongs to
  std::string delivery_id; // the git host's id of the event (a redelivery repeats it)
  // "base-image": the base image reference that changed, its digest the project's previous
  // build used and the one it has now, and the build that pushed it (0: seen by polling).
  std::string base_image;
  std::string old_digest;
  std::string new_digest;
  std::int64_t cause_build_id = 0;

  bool empty() const { return kind.empty(); }
  bool operator==(const BuildTrigger&) const = default;
};

// A base image a build used: a FROM reference of its Dockerfile and the digest it resolved to
// ("sha256:...", empty when it could not be resolved).
struct BaseImage {
  std::string image;
  std::string digest;

  bool operator==(const BaseImage&) const = default;
};

struct Build {
  std::int64_t id = 0;
  std::string project;
  std::string tag;
  std::string operator_name;
  std::string image;   // <registry host>/<cluster>/<project>:<tag>
  std::string digest;  // sha256:... of the pushed manifest, once succeeded
  std::int64_t size = 0;  // bytes of the pushed image (config + layers), once succeeded
  TimePoint queued_at{};
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  BuildState state = BuildState::kQueued;
  std::string reason;  // why it failed or was cancelled
  bool log_pruned = false;  // its log was deleted by retention; the build's row stays
  bool cancel_requested = false;
  BuildTrigger trigger;
  // Further tags of the same image, pushed after `tag` (a trigger's other tag templates).
  std::vector<std::string> extra_tags;
  // The base images it used, in the Dockerfile's order (recorded when it starts building).
  std::vector<BaseImage> base_images;
  // Asked to build cold: every step runs again (its results replace the layer cache's).
  bool no_cache = false;

  bool operator==(const Build&) const = default;
};

// A project's build settings. A project nobody set has the defaults.
struct ProjectBuildSettings {
  std::string project;
  bool layer_cache = true;              // its builds reuse cached steps (build-cache)
  std::string operator_name;            // who set them last; empty when never set
  std::optional<TimePoint> updated_at;  // none when never set
};

// Builds across projects, newest first; every filter is optional (empty: any).
struct BuildFilter {
  std::vector<BuildState> states;
  std::string project;        // exact name
  std::string operator_name;  // exact
  std::optional<std::int64_t> before_id;  // the keyset cursor: ids strictly smaller
  int limit = 10;
};

struct BuildPage {
  std::vector<Build> builds;  // newest first
  std::int64_t total_count = 0;
};

// A piece of a build's log from byte `offset` on.
struct LogChunk {
  std::string text;
  std::int64_t next_offset = 0;
  bool finished = false;  // the build has ended and `text` reaches the end of its log
};

}  // namespace market
