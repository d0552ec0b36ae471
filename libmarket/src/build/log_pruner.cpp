#include "build/log_pruner.hpp"

#include <algorithm>
#include <random>

#include "log.hpp"

namespace market {

LogKeepRule LogRetention::RuleAt(TimePoint now) const {
  LogKeepRule rule;
  rule.newest_builds = keep_builds;
  if (keep_for.count() > 0) rule.finished_since = now - keep_for;
  return rule;
}

LogPruner::LogPruner(BuildStore& store, const Clock& clock, LogRetention retention)
    : store_(store), clock_(clock), retention_(retention) {
  // As the worker count is: a batch of nothing would never end a pass, no pause would spin.
  retention_.batch = std::max(retention_.batch, 1);
  retention_.interval = std::max(retention_.interval, std::chrono::milliseconds(10));
}

LogPruner::~LogPruner() { Stop(); }

void LogPruner::Start() {
  if (thread_.joinable() || retention_.RuleAt(clock_.Now()).KeepsAll()) return;
  thread_ = std::jthread([this](std::stop_token stop) { Loop(stop); });
}

void LogPruner::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

Result<std::int64_t> LogPruner::PruneAll(std::stop_token stop) {
  // One rule for the whole pass: the cursor is only right while the rule stays put.
  const TimePoint now = clock_.Now();
  const LogKeepRule rule = retention_.RuleAt(now);
  std::int64_t pruned = 0;
  std::int64_t after = 0;
  while (!stop.stop_requested()) {
    Result<LogPruneBatch> batch = store_.PruneLogs(rule, after, retention_.batch, now);
    if (!batch) return std::unexpected(batch.error());
    pruned += batch->pruned;
    if (!batch->more) break;
    after = batch->last_id;
  }
  return pruned;
}

void LogPruner::Loop(std::stop_token stop) {
  std::mt19937_64 random{std::random_device{}()};
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  while (!stop.stop_requested()) {
    Result<std::int64_t> pruned = PruneAll(stop);
    if (!pruned) {
      MARKET_LOG_WARN("pruning build logs failed: {}", pruned.error().message);
    } else if (*pruned > 0) {
      MARKET_LOG_INFO("pruned the logs of {} build(s) (build-log-keep {}, build-log-keep-days {})",
                      *pruned, retention_.keep_builds, retention_.keep_for.count());
    }
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(retention_.interval * spread(random));
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, wait, [] { return false; });
  }
}

}  // namespace market
