#pragma once
// The metrics of market-server: HTTP requests by route pattern and status, builds, the registry
// and the database pool, rendered for GET /metrics.

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http_server.hpp"
#include "market/build_store.hpp"
#include "market/registry.hpp"
#include "market/store_monitor.hpp"
#include "metrics.hpp"
#include "router.hpp"

namespace market {
class BaseRebuildService;
}  // namespace market

namespace market::server {

class Authenticator;

class ServiceMetrics final : public RequestObserver {
 public:
  // `monitor` (may be null) is read at every scrape: builds queued and running over all
  // instances, and this process's database pool.
  ServiceMetrics(std::unique_ptr<StoreMonitor> monitor, int build_workers);
  ~ServiceMetrics() override;

  // The route table whose patterns label requests; before the server starts.
  void BindRoutes(const std::vector<Route>& routes);
  void OnRequest(const RequestRecord& record) override;
  void OnRefused(Refusal refusal) override;
  void OnSigninFailed() override;
  // The authenticator whose password verifications are reported; null or never: none.
  void BindAuthenticator(const Authenticator* auth) { auth_ = auth; }
  // The base-image rebuilds whose decisions are counted; null or never: none.
  void BindBaseRebuilds(const BaseRebuildService* rebuilds) { base_rebuilds_ = rebuilds; }

  // Decorators that count what passes through: registry calls (errors by code, latency) and
  // builds finishing (by state, with their durations). The first owns `registry`; the second
  // forwards to `store`, which must outlive it.
  RegistryPtr Instrument(RegistryPtr registry);
  std::unique_ptr<BuildStore> Instrument(BuildStore& store);

  std::string Render() const { return registry_.Render(); }

 private:
  struct RequestCell {
    metrics::Counter* requests;
    metrics::Histogram* latency;
  };
  static constexpr std::size_t kStatuses = 500;  // 100..599
  using CellRow = std::array<std::atomic<RequestCell*>, kStatuses>;

  RequestCell* CellFor(std::size_t row, const Route* route, unsigned status);
  void Collect(metrics::TextWriter& out) const;

  metrics::Registry registry_;
  std::unique_ptr<StoreMonitor> monitor_;
  int build_workers_;
  metrics::CounterFamily& requests_;
  metrics::HistogramFamily& latency_;
  metrics::CounterFamily& registry_calls_;
  metrics::CounterFamily& registry_errors_;
  metrics::HistogramFamily& registry_latency_;
  metrics::CounterFamily& builds_enqueued_;
  metrics::CounterFamily& builds_finished_;
  metrics::HistogramFamily& build_duration_;
  metrics::CounterFamily& refused_;
  metrics::Counter& signin_failures_;
  const Authenticator* auth_ = nullptr;
  const BaseRebuildService* base_rebuilds_ = nullptr;

  // Row 0: requests no route matched; row i + 1: routes[i]. Lock-free after a cell's first
  // use, so the request path takes no lock.
  const Route* first_route_ = nullptr;
  std::size_t route_count_ = 0;
  std::unique_ptr<CellRow[]> rows_;
  std::mutex cells_mutex_;
  std::vector<std::unique_ptr<RequestCell>> cells_;  // owned; rows_ point into them
};

}  // namespace market::server
