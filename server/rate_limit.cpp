#include "rate_limit.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace market::server {

RateLimiter::RateLimiter(double per_second, int burst)
    : per_second_(per_second), burst_(std::max(1, burst)) {}

RateLimiter::Decision RateLimiter::Take(std::string_view key, Clock::time_point now) {
  if (per_second_ <= 0) return {};
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.buckets.try_emplace(std::string(key));
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst_;
  } else {
    double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * per_second_);
  }
  bucket.updated = now;
  Decision decision;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
  } else {
    decision.allowed = false;
    double wait = (1 - bucket.tokens) / per_second_;
    decision.retry_after = std::chrono::seconds(std::max<std::int64_t>(
        1, static_cast<std::int64_t>(std::ceil(wait))));
  }
  if (shard.buckets.size() >= shard.sweep_at) {
    std::erase_if(shard.buckets, [&](const auto& entry) {
      double idle = std::chrono::duration<double>(now - entry.second.updated).count();
      return entry.second.tokens + idle * per_second_ >= burst_;
    });
    // Next sweep when the map has doubled again, so sweeping stays amortised O(1).
    shard.sweep_at = std::max<std::size_t>(1024, shard.buckets.size() * 2);
  }
  return decision;
}

}  // namespace market::server

namespace market::server {

SigninThrottle::SigninThrottle(int max_failures, std::chrono::seconds window)
    : max_failures_(std::max(1, max_failures)), window_(std::max(window, std::chrono::seconds(1))) {}

SigninThrottle::Shard& SigninThrottle::ShardOf(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

std::chrono::seconds SigninThrottle::RetryAfter(std::string_view key, Clock::time_point now) {
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.windows.find(std::string(key));
  if (it == shard.windows.end() || it->second.ends <= now ||
      it->second.failures < max_failures_) {
    return std::chrono::seconds(0);
  }
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.ends - now);
  return std::max(left, std::chrono::seconds(1));
}

int SigninThrottle::Fail(std::string_view key, Clock::time_point now) {
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mutex);
  Window& window = shard.windows[std::string(key)];
  if (window.ends <= now) window = Window{0, now + window_};
  ++window.failures;
  int failures = window.failures;
  if (shard.windows.size() >= shard.sweep_at) {
    std::erase_if(shard.windows, [&](const auto& entry) { return entry.second.ends <= now; });
    shard.sweep_at = std::max<std::size_t>(1024, shard.windows.size() * 2);
  }
  return failures;
}

}  // namespace market::server

namespace market::server {

bool PerKeyLimit::TryTake(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = held_.find(key);
  int held = it == held_.end() ? 0 : it->second;
  if (held >= max_) return false;
  if (it == held_.end()) {
    held_.emplace(key, 1);
  } else {
    ++it->second;
  }
  return true;
}

void PerKeyLimit::Release(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto it = held_.find(key); it != held_.end() && --it->second <= 0) held_.erase(it);
}

}  // namespace market::server
