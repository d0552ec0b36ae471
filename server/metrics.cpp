#include "metrics.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

#include <fmt/format.h>

namespace market::server::metrics {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Counts are whole numbers far more often than not: print them as such (no "1e+06").
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<std::int64_t>(value));
  }
  return fmt::format("{}", value);  // shortest representation that reads back the same
}

namespace {

bool NameChar(char c, bool first, bool colon_ok) {
  bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (colon_ok && c == ':') return true;
  return letter || (!first && c >= '0' && c <= '9');
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, true)) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;  // reserved for Prometheus itself
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, false)) return false;
  }
  return true;
}

void TextWriter::Header(std::string_view name, std::string_view help, std::string_view type) {
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, type);
}

void TextWriter::Sample(std::string_view name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += EscapeLabelValue(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatValue(value);
  out_ += '\n';
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      throw std::invalid_argument("histogram bounds must be finite and ascending");
    }
  }
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::Observe(double value) {
  // Prometheus buckets are "less than or equal": a value on a bound counts in that bucket.
  std::size_t index = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  if (std::isnan(value)) index = bounds_.size();
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.upper_bounds = bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> LatencyBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {
  if (!IsValidMetricName(name_)) throw std::invalid_argument("bad metric name: " + name_);
  for (const std::string& label : label_names_) {
    bool reserved = std::is_same_v<Metric, Histogram> && label == "le";
    if (!IsValidLabelName(label) || reserved) {
      throw std::invalid_argument("bad label name: " + label);
    }
  }
}

template <class Metric>
Metric& Family<Metric>::With(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument(fmt::format("{} takes {} label values, got {}", name_,
                                            label_names_.size(), label_values.size()));
  }
  std::lock_guard lock(mutex_);
  std::unique_ptr<Metric>& child = children_[label_values];
  if (!child) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      child = std::make_unique<Histogram>(buckets_);
    } else {
      child = std::make_unique<Metric>();
    }
  }
  return *child;
}

template <class Metric>
void Family<Metric>::Write(TextWriter& out) const {
  constexpr std::string_view kType = std::is_same_v<Metric, Counter> ? "counter"
                                     : std::is_same_v<Metric, Gauge> ? "gauge"
                                                                     : "histogram";
  out.Header(name_, help_, kType);
  std::lock_guard lock(mutex_);
  for (const auto& [values, child] : children_) {
    Labels labels;
    for (std::size_t i = 0; i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
    if constexpr (std::is_same_v<Metric, Histogram>) {
      Histogram::Snapshot snapshot = child->Read();
      Labels with_le = labels;
      with_le.emplace_back("le", "");
      for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
        with_le.back().second = i < snapshot.upper_bounds.size()
                                    ? FormatValue(snapshot.upper_bounds[i])
                                    : std::string("+Inf");
        out.Sample(name_ + "_bucket", with_le, static_cast<double>(snapshot.cumulative[i]));
      }
      out.Sample(name_ + "_sum", labels, snapshot.sum);
      out.Sample(name_ + "_count", labels, static_cast<double>(snapshot.count));
    } else {
      out.Sample(name_, labels, child->Value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
               std::unique_ptr<HistogramFamily>, std::function<void(TextWriter&)>>
      item;
};

Registry::Registry() = default;
Registry::~Registry() = default;

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names) {
  auto family = std::make_unique<CounterFamily>(std::move(name), std::move(help),
                                                std::move(label_names));
  CounterFamily& ref = *family;
  std::lock_guard lock(mutex_);
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(family)}));
  return ref;
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names) {
  auto family =
      std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names));
  GaugeFamily& ref = *family;
  std::lock_guard lock(mutex_);
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(family)}));
  return ref;
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> buckets) {
  Histogram check(buckets);  // bad bounds fail here, at registration, not at first use
  (void)check;
  auto family = std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                                  std::move(label_names), std::move(buckets));
  HistogramFamily& ref = *family;
  std::lock_guard lock(mutex_);
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(family)}));
  return ref;
}

void Registry::AddCollector(std::function<void(TextWriter&)> collect) {
  std::lock_guard lock(mutex_);
  entries_.push_back(std::make_unique<Entry>(Entry{std::move(collect)}));
}

std::string Registry::Render() const {
  TextWriter out;
  std::lock_guard lock(mutex_);
  for (const auto& entry : entries_) {
    std::visit(
        [&out](const auto& item) {
          using T = std::decay_t<decltype(item)>;
          if constexpr (std::is_same_v<T, std::function<void(TextWriter&)>>) {
            item(out);
          } else {
            item->Write(out);
          }
        },
        entry->item);
  }
  return out.Text();
}

}  // namespace market::server::metrics
