// Tag retention's pure parts: which tags a rule set keeps and why, and when a schedule is due.

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "market/retention_schedule.hpp"
#include "market/retention_service.hpp"

using market::ParseIso8601;
using market::RetentionItem;
using market::RetentionRule;
using market::RetentionRuleSet;
using market::RetentionSchedule;
using market::RetentionService;
using market::RetentionTag;
using market::TimePoint;
using std::chrono::days;

namespace {

const TimePoint kNow = *ParseIso8601("2026-06-15T12:00:00Z");

RetentionTag Tag(std::string name, std::string digest, int age_days) {
  return {std::move(name), std::move(digest), kNow - days(age_days)};
}

// tag -> keep
std::map<std::string, bool> Decide(const std::vector<RetentionRule>& rules,
                                   const std::vector<RetentionTag>& tags,
                                   std::string_view rest = "web",
                                   std::function<std::string(std::string_view)> protect = {}) {
  RetentionRuleSet set;
  set.cluster = "team";
  set.rules = rules;
  std::map<std::string, bool> out;
  for (const RetentionItem& item : RetentionService::Evaluate(
           set, "team/" + std::string(rest), rest, tags, protect, kNow)) {
    out[item.tag] = item.keep;
    CHECK_FALSE(item.reason.empty());
  }
  return out;
}

}  // namespace

TEST_CASE("keep-latest keeps the N most recently pushed tags it selects", "[retention]") {
  auto kept = Decide({RetentionRule{"", "", "", 2, 0}},
                     {Tag("a", "sha256:1", 5), Tag("b", "sha256:2", 1), Tag("c", "sha256:3", 3),
                      RetentionTag{"d", "sha256:4", std::nullopt}});
  CHECK(kept == std::map<std::string, bool>{{"a", false}, {"b", true}, {"c", true}, {"d", false}});
}

TEST_CASE("keep-days keeps tags pushed within D days, no push time counts as oldest",
          "[retention]") {
  auto kept = Decide({RetentionRule{"", "", "", 0, 7}},
                     {Tag("new", "sha256:1", 6), Tag("old", "sha256:2", 8),
                      RetentionTag{"unknown", "sha256:3", std::nullopt}});
  CHECK(kept == std::map<std::string, bool>{{"new", true}, {"old", false}, {"unknown", false}});
}

TEST_CASE("Include and exclude patterns are anchored and select what a rule keeps",
          "[retention]") {
  // Only v-tags except release candidates are kept by the rule; "xv1" does not match "v.*".
  auto kept = Decide({RetentionRule{"", "v.*", ".*-rc", 0, 0}},
                     {Tag("v1", "sha256:1", 100), Tag("v2-rc", "sha256:2", 1),
                      Tag("xv1", "sha256:3", 1), Tag("main", "sha256:4", 1)});
  CHECK(kept == std::map<std::string, bool>{
                    {"v1", true}, {"v2-rc", false}, {"xv1", false}, {"main", false}});
}

TEST_CASE("Rules combine with OR", "[retention]") {
  auto kept = Decide({RetentionRule{"", "v.*", "", 1, 0}, RetentionRule{"", "", "", 0, 3}},
                     {Tag("v1", "sha256:1", 50), Tag("v2", "sha256:2", 40),
                      Tag("main", "sha256:3", 1), Tag("dev", "sha256:4", 10)});
  CHECK(kept == std::map<std::string, bool>{
                    {"v1", false}, {"v2", true}, {"main", true}, {"dev", false}});
}

TEST_CASE("A digest that a kept tag names keeps all its tags", "[retention]") {
  // "old" would expire, but deleting its digest would take "v1" (kept) with it.
  RetentionRuleSet set;
  set.rules = {RetentionRule{"", "v.*", "", 0, 0}};
  auto items = RetentionService::Evaluate(
      set, "team/web", "web", {Tag("old", "sha256:same", 90), Tag("v1", "sha256:same", 90),
                               Tag("gone", "sha256:other", 90)},
      {}, kNow);
  REQUIRE(items.size() == 3);
  CHECK(items[0].keep);
  CHECK(items[0].reason == "shares its digest with kept tag v1");
  CHECK(items[1].keep);
  CHECK_FALSE(items[2].keep);
  CHECK(items[2].reason == "no rule keeps it");
}

TEST_CASE("Protected tags are kept with the protection as the reason", "[retention]") {
  RetentionRuleSet set;
  set.rules = {RetentionRule{"", "", "", 0, 1}};
  auto items = RetentionService::Evaluate(
      set, "team/web", "web", {Tag("build-7", "sha256:1", 90), Tag("x", "sha256:2", 90)},
      [](std::string_view tag) {
        return tag == "build-7" ? std::string("latest successful build 7 of project web")
                                : std::string();
      },
      kNow);
  CHECK(items[0].keep);
  CHECK(items[0].reason == "latest successful build 7 of project web");
  CHECK_FALSE(items[1].keep);
}

TEST_CASE("A repository no rule's glob names is left alone", "[retention]") {
  auto kept = Decide({RetentionRule{"api*", "", "", 1, 0}},
                     {Tag("a", "sha256:1", 90), Tag("b", "sha256:2", 90)}, "web");
  CHECK(kept == std::map<std::string, bool>{{"a", true}, {"b", true}});
  auto applied = Decide({RetentionRule{"api*", "", "", 1, 0}},
                        {Tag("a", "sha256:1", 90), Tag("b", "sha256:2", 80)}, "api-v2");
  CHECK(applied == std::map<std::string, bool>{{"a", false}, {"b", true}});
}

TEST_CASE("Schedules: intervals and the cron subset, in UTC", "[retention]") {
  const TimePoint t = *ParseIso8601("2026-06-15T12:34:56Z");  // a Monday
  CHECK(RetentionSchedule::Parse("schedule", "every 30m")->Next(t) == t + std::chrono::minutes(30));
  CHECK(RetentionSchedule::Parse("schedule", "every 2d")->Next(t) == t + days(2));
  CHECK(RetentionSchedule::Parse("schedule", "0 3 * * *")->Next(t) ==
        *ParseIso8601("2026-06-16T03:00:00Z"));
  CHECK(RetentionSchedule::Parse("schedule", "*/15 * * * *")->Next(t) ==
        *ParseIso8601("2026-06-15T12:45:00Z"));
  CHECK(RetentionSchedule::Parse("schedule", "30 1 * * 0")->Next(t) ==  // Sunday
        *ParseIso8601("2026-06-21T01:30:00Z"));
  CHECK(RetentionSchedule::Parse("schedule", "0 0 1 1,7 *")->Next(t) ==
        *ParseIso8601("2026-07-01T00:00:00Z"));
  CHECK_FALSE(RetentionSchedule::Parse("schedule", "0 0 31 2 *")->Next(t));

  for (const char* bad : {"every 1m", "every 0h", "every 5x", "every", "* * * *", "60 * * * *",
                          "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 7", "5-1 * * * *",
                          "*/0 * * * *", "a * * * *"}) {
    INFO(bad);
    auto parsed = RetentionSchedule::Parse("schedule", bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message.starts_with("schedule: "));
  }
}
