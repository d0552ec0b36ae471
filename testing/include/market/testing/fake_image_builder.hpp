#pragma once
// An ImageBuilder for unit tests of the build queue: succeeds, fails, or hangs until cancelled
// or released, and records what it was asked and how many builds ran at once.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "market/image_builder.hpp"

namespace market::testing {

class FakeImageBuilder final : public ImageBuilder {
 public:
  enum class Mode { kSucceed, kFail, kHang };
  struct Behaviour {
    Mode mode = Mode::kSucceed;
    std::vector<std::string> lines;                  // logged before the outcome
    std::string error = "RUN exited with status 1";  // kFail
    std::chrono::milliseconds delay{0};              // kSucceed / kFail: time spent "building"
  };
  // What one call saw; the workspace is gone once the build ends, so it is read during it.
  struct Call {
    ImageBuildRequest request;
    std::string dockerfile_text;
    std::vector<std::string> context_files;  // relative paths of regular files, sorted
  };

  void SetDefault(Behaviour behaviour);
  // For images containing `image_part` (e.g. "/proj-a:"); the last matching rule wins.
  void SetFor(std::string image_part, Behaviour behaviour);
  // Hanging builds (current and later) succeed.
  void ReleaseAll();

  // ImageBuilder
  Result<ImageBuildOutcome> BuildAndPush(const ImageBuildRequest& request, const LogLineFn& log,
                                         std::stop_token stop) override;

  std::vector<Call> Calls() const;
  int Running() const;
  int MaxRunning() const;
  // Most builds of one repository (image without tag) inside BuildAndPush at the same time.
  int MaxRunningPerRepository() const;
  // Waits until at least `n` builds are inside BuildAndPush.
  bool WaitForRunning(int n, std::chrono::milliseconds timeout) const;

 private:
  Behaviour BehaviourFor(const std::string& image) const;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Behaviour default_;
  std::vector<std::pair<std::string, Behaviour>> rules_;
  bool released_ = false;
  std::vector<Call> calls_;
  int running_ = 0;
  int max_running_ = 0;
  std::map<std::string, int> running_per_repo_;
  int max_running_per_repo_ = 0;
  int digests_ = 0;
};

}  // namespace market::testing
