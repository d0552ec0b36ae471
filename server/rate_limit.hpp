#pragma once
// Bounds per key: requests per second per client, failed sign-ins per address and name, and
// things held at once (connections, log streams).

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace market::server {

// A token bucket per client (an authenticated user, else the peer's IP address): each key may
// make `burst` requests at once and `per_second` on average after that.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `per_second` <= 0 turns the limiter off (every request passes).
  RateLimiter(double per_second, int burst);

  struct Decision {
    bool allowed = true;
    std::chrono::seconds retry_after{0};  // when refused: whole seconds until one token is back
  };
  // Takes one token from `key`'s bucket. Thread-safe.
  Decision Take(std::string_view key, Clock::time_point now = Clock::now());
  bool enabled() const { return per_second_ > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated{};
  };
  // Buckets that have refilled completely carry no state: they are dropped when a shard's map
  // grows, so a flood of distinct addresses costs memory only while they are being limited.
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
    std::size_t sweep_at = 1024;
  };
  double per_second_;
  double burst_;
  Shard shards_[kShards];
};

}  // namespace market::server

namespace market::server {

// Failed sign-ins per key (a client address, a user name) in a fixed window that starts at a
// key's first failure: after `max_failures` in it, the key is refused until the window ends,
// whatever the password. Callers ask before verifying anything, so a refused guess costs no
// argon2id. Thread-safe.
class SigninThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  SigninThrottle(int max_failures, std::chrono::seconds window);

  // Zero when `key` may try now; else whole seconds until its window ends (at least 1).
  std::chrono::seconds RetryAfter(std::string_view key, Clock::time_point now = Clock::now());
  // Counts a failure of `key`; returns its failures in the current window.
  int Fail(std::string_view key, Clock::time_point now = Clock::now());

 private:
  struct Window {
    int failures = 0;
    Clock::time_point ends{};
  };
  // Windows that have ended carry no state: they are dropped when a shard's map grows.
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Window> windows;
    std::size_t sweep_at = 1024;
  };
  Shard& ShardOf(std::string_view key);

  int max_failures_;
  std::chrono::seconds window_;
  Shard shards_[kShards];
};

}  // namespace market::server

namespace market::server {

// Things held at once per key (connections per address, live log streams per caller): a key
// may hold at most `max`. Thread-safe.
class PerKeyLimit {
 public:
  explicit PerKeyLimit(int max) : max_(max) {}

  // One more for `key`; false, taking nothing, when it holds `max` already.
  bool TryTake(const std::string& key);
  // Gives back one that TryTake took.
  void Release(const std::string& key);

 private:
  int max_;
  std::mutex mutex_;
  std::unordered_map<std::string, int> held_;  // keys holding none are absent
};

}  // namespace market::server
