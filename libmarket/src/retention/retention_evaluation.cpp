// RetentionService::Evaluate: which tags of one repository a rule set keeps, and why.

#include <algorithm>
#include <map>
#include <regex>

#include <fmt/format.h>

#include "anchored_regex.hpp"
#include "glob.hpp"
#include "market/retention_service.hpp"

namespace market {

namespace {

// Rules were validated when stored; a pattern that no longer compiles selects nothing, so a
// broken rule can only keep less than intended, and then only through the other rules' OR.
bool Selects(const RetentionRule& rule, std::string_view tag) {
  if (!rule.include.empty() && !MatchesAnchored(rule.include, tag)) return false;
  if (!rule.exclude.empty() && MatchesAnchored(rule.exclude, tag)) return false;
  return true;
}

bool Applies(const RetentionRule& rule, std::string_view rest) {
  return rule.repositories.empty() || GlobMatches(rule.repositories, rest);
}

}  // namespace

std::vector<RetentionItem> RetentionService::Evaluate(
    const RetentionRuleSet& set, std::string_view repository, std::string_view rest,
    const std::vector<RetentionTag>& tags,
    const std::function<std::string(std::string_view tag)>& protected_because, TimePoint now) {
  std::vector<RetentionItem> items;
  items.reserve(tags.size());
  for (const auto& tag : tags) {
    RetentionItem item;
    item.repository = std::string(repository);
    item.tag = tag.name;
    item.digest = tag.digest;
    item.pushed = tag.pushed;
    item.keep = false;
    items.push_back(std::move(item));
  }
  const auto keep = [&](std::size_t i, std::string reason) {
    if (items[i].keep) return;  // the first reason found stays
    items[i].keep = true;
    items[i].reason = std::move(reason);
  };

  // Protections first: their reason is the one a person most needs to see.
  if (protected_because) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (auto why = protected_because(items[i].tag); !why.empty()) keep(i, std::move(why));
    }
  }

  bool any_rule_applies = false;
  for (std::size_t r = 0; r < set.rules.size(); ++r) {
    const RetentionRule& rule = set.rules[r];
    if (!Applies(rule, rest)) continue;
    any_rule_applies = true;
    std::vector<std::size_t> selected;
    for (std::size_t i = 0; i < tags.size(); ++i) {
      if (Selects(rule, tags[i].name)) selected.push_back(i);
    }
    const std::string label = fmt::format("rule {}", r + 1);
    if (rule.keep_latest == 0 && rule.keep_days == 0) {
      for (auto i : selected) keep(i, label + ": keeps every tag it selects");
      continue;
    }
    // Newest push first; a tag without a push time counts as the oldest; ties by name.
    std::stable_sort(selected.begin(), selected.end(), [&](std::size_t a, std::size_t b) {
      const auto& ta = tags[a];
      const auto& tb = tags[b];
      if (ta.pushed != tb.pushed) {
        if (!ta.pushed) return false;
        if (!tb.pushed) return true;
        return *ta.pushed > *tb.pushed;
      }
      return ta.name < tb.name;
    });
    for (std::size_t n = 0; n < selected.size(); ++n) {
      const std::size_t i = selected[n];
      if (rule.keep_latest > 0 && n < static_cast<std::size_t>(rule.keep_latest)) {
        keep(i, fmt::format("{}: among the {} most recently pushed", label, rule.keep_latest));
      } else if (rule.keep_days > 0 && tags[i].pushed &&
                 *tags[i].pushed >= now - std::chrono::days{rule.keep_days}) {
        keep(i, fmt::format("{}: pushed within {} days", label, rule.keep_days));
      }
    }
  }
  if (!any_rule_applies) {
    for (std::size_t i = 0; i < items.size(); ++i) keep(i, "no rule applies to the repository");
    return items;
  }

  // Deletes go by digest: a digest that any kept tag names stays, with all its tags.
  std::map<std::string, std::string> kept_digests;  // digest -> a kept tag on it
  for (const auto& item : items) {
    if (item.keep && !item.digest.empty()) kept_digests.emplace(item.digest, item.tag);
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].keep) continue;
    if (items[i].digest.empty()) {
      keep(i, "its digest is unknown, so it cannot be deleted by digest");
    } else if (auto found = kept_digests.find(items[i].digest); found != kept_digests.end()) {
      keep(i, "shares its digest with kept tag " + found->second);
    } else {
      items[i].reason = "no rule keeps it";
    }
  }
  return items;
}

}  // namespace market
