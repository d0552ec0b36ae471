#pragma once
// A small Prometheus text exposition (format 0.0.4): counters, gauges and histograms with fixed
// buckets, in labelled families. Updates are lock-free atomics; only creating a labelled child
// and rendering take a lock, so hot paths look a child up once and keep the reference.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace market::server::metrics {

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// Sample values: "+Inf", "-Inf", "NaN", integers without exponent, else shortest round-trip.
std::string FormatValue(double value);
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

using Labels = std::vector<std::pair<std::string, std::string>>;

// Builds the exposition text: one HELP/TYPE header per family, then its samples.
class TextWriter {
 public:
  void Header(std::string_view name, std::string_view help, std::string_view type);
  void Sample(std::string_view name, const Labels& labels, double value);
  const std::string& Text() const { return out_; }

 private:
  std::string out_;
};

class Counter {
 public:
  void Inc(double amount = 1.0) {
    if (amount > 0) value_.fetch_add(amount, std::memory_order_relaxed);
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double amount) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `upper_bounds`: ascending and finite; the +Inf bucket is implied.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;     // without +Inf
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  // Per bucket, not cumulative (one increment per observation); the last is +Inf. The count
  // is their total, so a scrape never shows a count that disagrees with the +Inf bucket.
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Buckets for request latencies in seconds: 5 ms .. 60 s.
std::vector<double> LatencyBuckets();

// A metric with named labels; one child per combination of label values.
template <class Metric>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> buckets = {});
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The child with these label values (as many as label names), created on first use. Takes
  // the family's lock: callers on a hot path keep the reference, which stays valid.
  Metric& With(const std::vector<std::string>& label_values);
  void Write(TextWriter& out) const;

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;  // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// The families of one process, rendered in registration order, plus collectors that write
// figures read at scrape time (database pool, queue depth).
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names, std::vector<double> buckets);
  void AddCollector(std::function<void(TextWriter&)> collect);
  std::string Render() const;

 private:
  struct Entry;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
};

// The Content-Type of Render()'s text.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace market::server::metrics
