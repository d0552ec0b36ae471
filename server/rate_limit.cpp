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
