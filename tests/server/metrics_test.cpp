// The Prometheus text exposition: escaping, number formatting, histogram buckets, families.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "metrics.hpp"

namespace metrics = market::server::metrics;

TEST_CASE("label values escape backslash, quote and newline only", "[metrics]") {
  CHECK(metrics::EscapeLabelValue("plain /api/x") == "plain /api/x");
  CHECK(metrics::EscapeLabelValue(R"(a\b)") == R"(a\\b)");
  CHECK(metrics::EscapeLabelValue(R"(say "hi")") == R"(say \"hi\")");
  CHECK(metrics::EscapeLabelValue("one\ntwo") == R"(one\ntwo)");
  CHECK(metrics::EscapeLabelValue("tab\there") == "tab\there");
  CHECK(metrics::EscapeHelp("a \"quoted\" \\ line\nnext") == "a \"quoted\" \\\\ line\\nnext");
}

TEST_CASE("sample values print as Prometheus reads them", "[metrics]") {
  CHECK(metrics::FormatValue(0) == "0");
  CHECK(metrics::FormatValue(42) == "42");
  CHECK(metrics::FormatValue(-3) == "-3");
  CHECK(metrics::FormatValue(1e6) == "1000000");
  CHECK(metrics::FormatValue(0.25) == "0.25");
  CHECK(metrics::FormatValue(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(metrics::FormatValue(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(metrics::FormatValue(std::nan("")) == "NaN");
  CHECK(std::stod(metrics::FormatValue(0.1 + 0.2)) == 0.1 + 0.2);  // round-trips
}

TEST_CASE("metric and label names follow the data model", "[metrics]") {
  CHECK(metrics::IsValidMetricName("market_http_requests_total"));
  CHECK(metrics::IsValidMetricName("ns:rule_name"));
  CHECK_FALSE(metrics::IsValidMetricName("9lives"));
  CHECK_FALSE(metrics::IsValidMetricName("has-dash"));
  CHECK_FALSE(metrics::IsValidMetricName(""));
  CHECK(metrics::IsValidLabelName("route"));
  CHECK_FALSE(metrics::IsValidLabelName("__reserved"));
  CHECK_FALSE(metrics::IsValidLabelName("a:b"));
  metrics::Registry registry;
  CHECK_THROWS(registry.AddCounter("bad-name", "x"));
  CHECK_THROWS(registry.AddCounter("ok", "x", {"bad-label"}));
  CHECK_THROWS(registry.AddHistogram("h", "x", {"le"}, {1}));  // le belongs to the buckets
  CHECK_THROWS(registry.AddHistogram("h", "x", {}, {2, 1}));   // not ascending
}

TEST_CASE("a counter family renders HELP, TYPE and one sample per label set", "[metrics]") {
  metrics::Registry registry;
  metrics::CounterFamily& family =
      registry.AddCounter("requests_total", "Requests.\nSecond line", {"route", "status"});
  family.With({"/api/a", "200"}).Inc();
  family.With({"/api/a", "200"}).Inc(2);
  family.With({"/say \"x\"", "500"}).Inc();
  family.With({"/api/a", "200"}).Inc(-5);  // counters never go down
  CHECK_THROWS(family.With({"only one"}));
  CHECK(registry.Render() ==
        "# HELP requests_total Requests.\\nSecond line\n"
        "# TYPE requests_total counter\n"
        "requests_total{route=\"/api/a\",status=\"200\"} 3\n"
        "requests_total{route=\"/say \\\"x\\\"\",status=\"500\"} 1\n");
}

TEST_CASE("a gauge goes up and down, no labels means a bare sample", "[metrics]") {
  metrics::Registry registry;
  metrics::Gauge& gauge = registry.AddGauge("depth", "Queue depth.").With({});
  gauge.Set(5);
  gauge.Add(-2);
  CHECK(registry.Render() == "# HELP depth Queue depth.\n# TYPE depth gauge\ndepth 3\n");
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, _sum and _count", "[metrics]") {
  metrics::Registry registry;
  metrics::HistogramFamily& family =
      registry.AddHistogram("latency_seconds", "Latency.", {"route"}, {0.1, 0.5, 1});
  metrics::Histogram& h = family.With({"/x"});
  h.Observe(0.05);
  h.Observe(0.1);  // on a bound: counts in that bucket (le is "less than or equal")
  h.Observe(0.3);
  h.Observe(2);
  h.Observe(1000);
  CHECK(registry.Render() ==
        "# HELP latency_seconds Latency.\n"
        "# TYPE latency_seconds histogram\n"
        "latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
        "latency_seconds_bucket{route=\"/x\",le=\"0.5\"} 3\n"
        "latency_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
        "latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 5\n"
        "latency_seconds_sum{route=\"/x\"} " +
            metrics::FormatValue(0.0 + 0.05 + 0.1 + 0.3 + 2 + 1000) + "\n"
        "latency_seconds_count{route=\"/x\"} 5\n");
}

TEST_CASE("collectors write at render time, in registration order", "[metrics]") {
  metrics::Registry registry;
  registry.AddCounter("first_total", "First.").With({}).Inc();
  int scrapes = 0;
  registry.AddCollector([&scrapes](metrics::TextWriter& out) {
    ++scrapes;
    out.Header("scrapes", "Scrapes so far.", "gauge");
    out.Sample("scrapes", {{"kind", "a\\b"}}, scrapes);
  });
  std::string text = registry.Render();
  CHECK(text.find("first_total 1\n") < text.find("scrapes{kind=\"a\\\\b\"} 1\n"));
  CHECK(registry.Render().find("scrapes{kind=\"a\\\\b\"} 2\n") != std::string::npos);
}

TEST_CASE("concurrent updates are all counted", "[metrics]") {
  metrics::Registry registry;
  metrics::Counter& counter = registry.AddCounter("c_total", "C.").With({});
  metrics::Histogram& histogram = registry.AddHistogram("h", "H.", {}, {1}).With({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.Inc();
        histogram.Observe(i % 2 == 0 ? 0.5 : 2.0);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(counter.Value() == 40000);
  metrics::Histogram::Snapshot snapshot = histogram.Read();
  CHECK(snapshot.count == 40000);
  CHECK(snapshot.cumulative.front() == 20000);
  CHECK(snapshot.sum == 20000 * 0.5 + 20000 * 2.0);
}
