#include "market/testing/fake_image_builder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace market::testing {

namespace {
std::string RepositoryOf(const std::string& image) { return image.substr(0, image.rfind(':')); }
}  // namespace

void FakeImageBuilder::SetDefault(Behaviour behaviour) {
  std::lock_guard lock(mu_);
  default_ = std::move(behaviour);
}

void FakeImageBuilder::SetFor(std::string image_part, Behaviour behaviour) {
  std::lock_guard lock(mu_);
  rules_.emplace_back(std::move(image_part), std::move(behaviour));
}

void FakeImageBuilder::ReleaseAll() {
  {
    std::lock_guard lock(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

FakeImageBuilder::Behaviour FakeImageBuilder::BehaviourFor(const std::string& image) const {
  for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
    if (image.find(it->first) != std::string::npos) return it->second;
  }
  return default_;
}

Result<ImageBuildOutcome> FakeImageBuilder::BuildAndPush(const ImageBuildRequest& request,
                                                         const LogLineFn& log,
                                                         std::stop_token stop) {
  Call call;
  call.request = request;
  auto dockerfile = request.dockerfile.is_absolute() ? request.dockerfile
                                                     : request.context_dir / request.dockerfile;
  {
    std::ifstream in(dockerfile);
    std::stringstream text;
    text << in.rdbuf();
    call.dockerfile_text = text.str();
  }
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(request.context_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) {
      call.context_files.push_back(
          std::filesystem::relative(it->path(), request.context_dir).generic_string());
    }
  }
  std::sort(call.context_files.begin(), call.context_files.end());

  Behaviour behaviour;
  const std::string repo = RepositoryOf(request.image);
  {
    std::lock_guard lock(mu_);
    behaviour = BehaviourFor(request.image);
    calls_.push_back(call);
    max_running_ = std::max(max_running_, ++running_);
    max_running_per_repo_ = std::max(max_running_per_repo_, ++running_per_repo_[repo]);
  }
  cv_.notify_all();

  for (const auto& line : behaviour.lines) log(line);

  bool cancelled = false;
  {
    // Registered before taking the lock: it runs at once when stop is already requested.
    std::stop_callback wake(stop, [this] {
      std::lock_guard inner(mu_);
      cv_.notify_all();
    });
    std::unique_lock lock(mu_);
    if (behaviour.mode == Mode::kHang) {
      cv_.wait(lock, [&] { return released_ || stop.stop_requested(); });
    } else {
      cv_.wait_for(lock, behaviour.delay, [&] { return stop.stop_requested(); });
    }
    cancelled = stop.stop_requested();
    --running_;
    --running_per_repo_[repo];
    if (!cancelled && behaviour.mode != Mode::kFail) ++digests_;
  }
  cv_.notify_all();

  if (cancelled) return Fail(Errc::kInternal, "cancelled");
  if (behaviour.mode == Mode::kFail) return Fail(Errc::kInternal, behaviour.error);
  ImageBuildOutcome outcome;
  std::lock_guard lock(mu_);
  outcome.digest = fmt::format("sha256:{:064x}", digests_);
  outcome.size = 1000 + digests_;
  return outcome;
}

std::vector<FakeImageBuilder::Call> FakeImageBuilder::Calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

int FakeImageBuilder::Running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int FakeImageBuilder::MaxRunning() const {
  std::lock_guard lock(mu_);
  return max_running_;
}

int FakeImageBuilder::MaxRunningPerRepository() const {
  std::lock_guard lock(mu_);
  return max_running_per_repo_;
}

bool FakeImageBuilder::WaitForRunning(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return running_ >= n; });
}

}  // namespace market::testing
