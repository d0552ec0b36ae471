// Handlers of /api/retention/...: tag retention rule sets, their (dry) runs and the runs'
// records. The rules and the runs are RetentionService's.

#include <fmt/format.h>

#include "api.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

nlohmann::json RuleSetToJson(const RetentionRuleSet& set) {
  nlohmann::json rules = nlohmann::json::array();
  for (const RetentionRule& rule : set.rules) {
    rules.push_back({{"repositories", rule.repositories},
                     {"include", rule.include},
                     {"exclude", rule.exclude},
                     {"keepLatest", rule.keep_latest},
                     {"keepDays", rule.keep_days}});
  }
  return {{"id", set.id},
          {"cluster", set.cluster},
          {"name", set.name},
          {"enabled", set.enabled},
          {"schedule", set.schedule},
          {"nextRunAt", set.next_run_at ? nlohmann::json(FormatIso8601(*set.next_run_at))
                                        : nlohmann::json(nullptr)},
          {"rules", std::move(rules)},
          {"creator", set.creator},
          {"createdAt", FormatIso8601(set.created_at)},
          {"updatedAt", FormatIso8601(set.updated_at)}};
}

nlohmann::json OptionalTime(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(FormatIso8601(*t)) : nlohmann::json(nullptr);
}

nlohmann::json RunToJson(const RetentionRun& run, bool with_items) {
  nlohmann::json repositories = nlohmann::json::array();
  nlohmann::json totals = {{"total", 0}, {"kept", 0}, {"deleted", 0}, {"errors", 0},
                           {"bytesUnreferenced", 0}};
  for (const RetentionRepositorySummary& s : run.repositories) {
    repositories.push_back({{"repository", s.repository},
                            {"total", s.total},
                            {"kept", s.kept},
                            {"deleted", s.deleted},
                            {"errors", s.errors},
                            {"bytesUnreferenced", s.bytes_unreferenced},
                            {"error", s.error}});
    totals["total"] = totals["total"].get<std::int64_t>() + s.total;
    totals["kept"] = totals["kept"].get<std::int64_t>() + s.kept;
    totals["deleted"] = totals["deleted"].get<std::int64_t>() + s.deleted;
    totals["errors"] = totals["errors"].get<std::int64_t>() + s.errors;
    totals["bytesUnreferenced"] =
        totals["bytesUnreferenced"].get<std::int64_t>() + s.bytes_unreferenced;
  }
  nlohmann::json out = {{"id", run.id},
                        {"ruleSetId", run.rule_set_id},
                        {"ruleSet", run.rule_set},
                        {"cluster", run.cluster},
                        {"dryRun", run.dry_run},
                        {"trigger", run.trigger},
                        {"operator", run.operator_name},
                        {"state", ToString(run.state)},
                        {"error", run.error},
                        {"queuedAt", FormatIso8601(run.queued_at)},
                        {"startedAt", OptionalTime(run.started_at)},
                        {"finishedAt", OptionalTime(run.finished_at)},
                        {"totals", std::move(totals)},
                        {"repositories", std::move(repositories)}};
  if (with_items) {
    nlohmann::json items = nlohmann::json::array();
    for (const RetentionItem& item : run.items) {
      items.push_back({{"repository", item.repository},
                       {"tag", item.tag},
                       {"digest", item.digest},
                       {"pushed", OptionalTime(item.pushed)},
                       {"action", item.keep ? "keep" : "delete"},
                       {"reason", item.reason},
                       {"error", item.error}});
    }
    out["items"] = std::move(items);
  }
  return out;
}

Result<RetentionRuleSetRequest> RuleSetRequestOf(const RequestParams& params) {
  RetentionRuleSetRequest request;
  MARKET_ASSIGN_OR_RETURN(request.cluster, params.Optional("cluster"));
  MARKET_ASSIGN_OR_RETURN(request.name, params.Optional("name"));
  MARKET_ASSIGN_OR_RETURN(request.enabled, params.Optional("enabled"));
  MARKET_ASSIGN_OR_RETURN(request.schedule, params.Optional("schedule"));
  MARKET_ASSIGN_OR_RETURN(request.rules, params.Optional("rules"));
  return request;
}

Result<std::int64_t> IdParameter(const RequestParams& params, std::string_view field) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.NumberText(field));
  return ParseBuildId(field, text);
}

}  // namespace

RetentionService& Api::Retention() const { return *deps_.retention; }

HandlerResult Api::ListRetention(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string cluster, params.Text("cluster"));
    MARKET_ASSIGN_OR_RETURN(std::vector<RetentionRuleSet> sets, Retention().List(cluster));
    nlohmann::json content = nlohmann::json::array();
    for (const RetentionRuleSet& set : sets) content.push_back(RuleSetToJson(set));
    return Ok(std::move(content));
  });
}

HandlerResult Api::NewRetention(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(RetentionRuleSetRequest request, RuleSetRequestOf(params));
    MARKET_ASSIGN_OR_RETURN(RetentionRuleSet set,
                            Retention().Create(request, acting.operator_name,
                                               OriginOf(context, acting)));
    return Ok(RuleSetToJson(set));
  });
}

HandlerResult Api::GetRetention(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(RetentionRuleSet set, Retention().Get(id));
    return Ok(RuleSetToJson(set));
  });
}

HandlerResult Api::UpdateRetention(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(RetentionRuleSetRequest request, RuleSetRequestOf(params));
    MARKET_ASSIGN_OR_RETURN(RetentionRuleSet set,
                            Retention().Update(id, request, acting.operator_name,
                                               OriginOf(context, acting)));
    return Ok(RuleSetToJson(set));
  });
}

HandlerResult Api::DeleteRetention(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_RETURN_IF_ERROR(Retention().Delete(id, acting.operator_name, OriginOf(context, acting)));
    return Ok();
  });
}

HandlerResult Api::DryRunRetention(const RequestContext& context) { return QueueRetention(context, true); }

HandlerResult Api::RunRetention(const RequestContext& context) { return QueueRetention(context, false); }

HandlerResult Api::QueueRetention(const RequestContext& context, bool dry_run) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(RetentionRun run,
                            Retention().StartRun(id, dry_run, acting.operator_name,
                                                 OriginOf(context, acting)));
    return Ok(RunToJson(run, false));
  });
}

HandlerResult Api::ListRetentionRuns(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    std::int64_t rule_set = 0;
    if (params.Has("ruleSet")) {
      MARKET_ASSIGN_OR_RETURN(rule_set, IdParameter(params, "ruleSet"));
    }
    MARKET_ASSIGN_OR_RETURN(std::vector<RetentionRun> runs, Retention().Runs(rule_set));
    nlohmann::json content = nlohmann::json::array();
    for (const RetentionRun& run : runs) content.push_back(RunToJson(run, false));
    return Ok(std::move(content));
  });
}

HandlerResult Api::GetRetentionRun(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, IdParameter(params, "id"));
    MARKET_ASSIGN_OR_RETURN(RetentionRun run, Retention().Run(id));
    return Ok(RunToJson(run, true));
  });
}

}  // namespace market::server
