// Handlers of /api/project/{build,buildHistory,buildLog,buildCancel} and /api/builds.

#include <charconv>

#include <fmt/format.h>

#include "api.hpp"
#include "json_codec.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

constexpr std::int64_t kLogPieceBytes = 64 * 1024;
constexpr std::int64_t kMaxLogRead = 4 << 20;  // one non-follow buildLog answer
constexpr std::chrono::milliseconds kLogPoll{250};

Result<std::int64_t> PositiveInt(std::string_view field, std::string_view text, bool allow_zero) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value < (allow_zero ? 0 : 1)) {
    return Fail(Errc::kInvalid, fmt::format("{} must be a {} integer, not '{}'", field,
                                            allow_zero ? "non-negative" : "positive", text));
  }
  return value;
}

Result<std::int64_t> BuildIdParam(const RequestParams& params) {
  MARKET_ASSIGN_OR_RETURN(std::string text, params.NumberText("id"));
  if (text.empty()) return Fail(Errc::kInvalid, "id is required");
  return PositiveInt("id", text, false);
}

// A build's log as it grows: plain text chunks, or server-sent events (one event per batch of
// complete lines, `id:` the offset after it so EventSource resumes with Last-Event-ID).
class LogFollower final : public ChunkSource {
 public:
  LogFollower(BuildService& builds, std::int64_t id, std::int64_t offset, bool sse)
      : builds_(builds), id_(id), offset_(offset), sse_(sse) {}

  Piece Pull() override {
    Result<LogChunk> chunk = builds_.ReadLog(id_, offset_, kLogPieceBytes);
    if (!chunk) {
      std::string text = fmt::format("\n[log unavailable: {}]\n", chunk.error().message);
      return Piece{sse_ ? Event("error", text) : text, true};
    }
    offset_ = chunk->next_offset;
    if (!sse_) return Piece{std::move(chunk->text), chunk->finished};
    pending_ += chunk->text;
    std::string out;
    std::size_t cut = pending_.size();
    if (!chunk->finished) {
      std::size_t newline = pending_.rfind('\n');
      cut = newline == std::string::npos ? 0 : newline + 1;
    }
    if (cut > 0) {
      out = Event("", pending_.substr(0, cut));
      pending_.erase(0, cut);
    }
    if (chunk->finished) {
      Result<Build> build = builds_.Get(id_);
      out += Event("end", build ? std::string(ToString(build->state)) : "finished");
    }
    return Piece{std::move(out), chunk->finished};
  }

  std::chrono::milliseconds PollInterval() const override { return kLogPoll; }

  std::string OnServerStopping() override {
    return sse_ ? Event("end", "server stopping") : "\n[server stopping]\n";
  }

 private:
  std::string Event(std::string_view name, std::string_view text) const {
    std::string event = fmt::format("id: {}\n", offset_);
    if (!name.empty()) event += fmt::format("event: {}\n", name);
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    std::size_t start = 0;
    for (;;) {
      std::size_t end = text.find('\n', start);
      event += fmt::format("data: {}\n", text.substr(start, end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    return event + "\n";
  }

  BuildService& builds_;
  std::int64_t id_;
  std::int64_t offset_;
  bool sse_;
  std::string pending_;  // SSE: a line not yet complete
};

}  // namespace

HandlerResult Api::StartBuild(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    BuildRequest request;
    request.project = std::move(name);
    MARKET_ASSIGN_OR_RETURN(request.tag, params.Text("tag"));
    if (params.Has("noCache")) {
      MARKET_ASSIGN_OR_RETURN(request.no_cache, params.Flag("noCache"));
    }
    request.operator_name = acting.operator_name;
    // With authentication off every caller is an admin, as for every other route.
    request.role = context.role.value_or(Role::kAdmin);
    request.origin = OriginOf(context, acting);
    MARKET_ASSIGN_OR_RETURN(Build build, deps_.builds->Enqueue(request));
    return Ok(nlohmann::json{{"idStr", std::to_string(build.id)}});
  });
}

namespace {

nlohmann::json BuildSettingsToJson(const ProjectBuildSettings& settings) {
  return {{"projectName", settings.project},
          {"layerCache", settings.layer_cache},
          {"operator", settings.operator_name},
          {"updatedAt", settings.updated_at ? nlohmann::json(FormatIso8601(*settings.updated_at))
                                            : nlohmann::json(nullptr)}};
}

}  // namespace

HandlerResult Api::GetBuildSettings(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(ProjectBuildSettings settings, deps_.builds->Settings(name));
    return Ok(BuildSettingsToJson(settings));
  });
}

HandlerResult Api::SetBuildSettings(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string name, params.Required("projectName"));
    if (!params.Has("layerCache")) return Fail(Errc::kInvalid, "layerCache is required");
    MARKET_ASSIGN_OR_RETURN(bool layer_cache, params.Flag("layerCache"));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(ProjectBuildSettings settings,
                            deps_.builds->SetLayerCache(name, layer_cache, acting.operator_name,
                                                        OriginOf(context, acting)));
    return Ok(BuildSettingsToJson(settings));
  });
}

HandlerResult Api::BuildHistory(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    BuildHistoryRequest request;
    MARKET_ASSIGN_OR_RETURN(request.project, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(request.page, params.NumberText("page"));
    MARKET_ASSIGN_OR_RETURN(request.page_size, params.NumberText("page_size"));
    MARKET_ASSIGN_OR_RETURN(BuildSummary summary, deps_.builds->Summary(request));
    nlohmann::json builds = nlohmann::json::array();
    for (const Build& build : summary.page.builds) builds.push_back(BuildToJson(build));
    return Ok(nlohmann::json{{"state", LegacyStateNumber(summary.latest.state)},
                             {"logs", std::move(summary.latest_log.text)},
                             {"latest", BuildToJson(summary.latest)},
                             {"builds", std::move(builds)},
                             {"page", summary.page_number},
                             {"page_size", summary.page_size},
                             {"total_count", summary.page.total_count}});
  });
}

HandlerResult Api::ListBuilds(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    BuildListRequest request;
    MARKET_ASSIGN_OR_RETURN(request.states, params.Text("state"));
    MARKET_ASSIGN_OR_RETURN(request.project, params.Text("project"));
    MARKET_ASSIGN_OR_RETURN(request.operator_name, params.Text("operator"));
    MARKET_ASSIGN_OR_RETURN(request.before, params.NumberText("before"));
    MARKET_ASSIGN_OR_RETURN(request.page_size, params.NumberText("page_size"));
    MARKET_ASSIGN_OR_RETURN(BuildListing listing, deps_.builds->List(request));
    nlohmann::json builds = nlohmann::json::array();
    for (const Build& build : listing.builds) builds.push_back(BuildToJson(build));
    nlohmann::json next = nullptr;
    if (listing.next_before) next = *listing.next_before;
    return Ok(nlohmann::json{{"builds", std::move(builds)},
                             {"page_size", listing.page_size},
                             {"next_before", std::move(next)}});
  });
}

HandlerResult Api::BuildLog(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, BuildIdParam(params));
    MARKET_ASSIGN_OR_RETURN(std::string offset_text, params.NumberText("offset"));
    std::int64_t offset = 0;
    if (!offset_text.empty()) {
      MARKET_ASSIGN_OR_RETURN(offset, PositiveInt("offset", offset_text, true));
    }
    MARKET_ASSIGN_OR_RETURN(bool follow, params.Flag("follow"));
    bool sse = Accepts(context, "text/event-stream");
    if (auto last = context.message.find("Last-Event-ID"); sse && last != context.message.end()) {
      MARKET_ASSIGN_OR_RETURN(offset, PositiveInt("Last-Event-ID", last->value(), true));
    }
    MARKET_ASSIGN_OR_RETURN(Build build, deps_.builds->Get(id));  // 10011 before any stream
    if (follow || sse) {
      HttpResponse head{http::status::ok, 11};
      head.set(http::field::content_type,
               sse ? "text/event-stream; charset=utf-8" : "text/plain; charset=utf-8");
      head.set(http::field::cache_control, "no-cache");
      head.set("X-Accel-Buffering", "no");  // nginx: pass chunks through at once
      return HandlerResult{std::move(head),
                           std::make_unique<LogFollower>(*deps_.builds, build.id, offset, sse)};
    }
    MARKET_ASSIGN_OR_RETURN(LogChunk chunk, deps_.builds->ReadLog(build.id, offset, kMaxLogRead));
    if (Accepts(context, "text/plain")) {
      HttpResponse response =
          TextResponse(http::status::ok, "text/plain; charset=utf-8", std::move(chunk.text));
      response.set("X-Next-Offset", std::to_string(chunk.next_offset));
      response.set("X-Build-Finished", chunk.finished ? "1" : "0");
      return HandlerResult{std::move(response), nullptr};
    }
    return Ok(nlohmann::json{{"id", build.id},
                             {"state", ToString(build.state)},
                             {"text", std::move(chunk.text)},
                             {"next_offset", chunk.next_offset},
                             {"finished", chunk.finished}});
  });
}

HandlerResult Api::CancelBuild(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::int64_t id, BuildIdParam(params));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(Build build, deps_.builds->Cancel(id, acting.operator_name,
                                                              OriginOf(context, acting)));
    return Ok(BuildToJson(build));
  });
}

}  // namespace market::server
