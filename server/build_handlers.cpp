// Handlers of /api/project/{build,buildHistory,buildLog,buildCancel}.

#include <charconv>

#include <fmt/format.h>

#include "api.hpp"
#include "json_codec.hpp"
#include "market/validation.hpp"
#include "responses.hpp"

namespace market::server {

namespace {

constexpr std::int64_t kLogPieceBytes = 64 * 1024;
constexpr std::int64_t kHistoryLogBytes = 1 << 20;  // the latest build's log in buildHistory
constexpr std::int64_t kMaxLogRead = 4 << 20;       // one non-follow buildLog answer
constexpr std::chrono::milliseconds kLogPoll{250};

template <class Fn>
HandlerResult Respond(Fn&& fn) {
  Result<HandlerResult> result = fn();
  if (!result) return ErrorResult(result.error());
  return std::move(*result);
}

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

// Reads the log from `offset` until its end or `limit` bytes.
Result<LogChunk> ReadAll(BuildService& builds, std::int64_t id, std::int64_t offset,
                         std::int64_t limit) {
  LogChunk all;
  all.next_offset = offset;
  while (static_cast<std::int64_t>(all.text.size()) < limit) {
    std::int64_t want = std::min(kLogPieceBytes * 16, limit - static_cast<std::int64_t>(all.text.size()));
    MARKET_ASSIGN_OR_RETURN(LogChunk chunk, builds.ReadLog(id, all.next_offset, want));
    all.text += chunk.text;
    all.next_offset = chunk.next_offset;
    all.finished = chunk.finished;
    if (chunk.finished || chunk.text.empty()) break;
  }
  return all;
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
    MARKET_ASSIGN_OR_RETURN(std::string raw_name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(std::string name, NormalizeProjectName("projectName", raw_name));
    MARKET_ASSIGN_OR_RETURN(Acting acting, ActingOf(context, params));
    MARKET_ASSIGN_OR_RETURN(std::string tag, params.Text("tag"));
    if (!tag.empty()) {
      MARKET_ASSIGN_OR_RETURN(tag, ValidateTag("tag", tag));
    }
    // With authentication off every caller is an admin, as for every other route.
    MARKET_ASSIGN_OR_RETURN(Build build, deps_.builds->Enqueue(name, tag, acting.operator_name,
                                                               context.role.value_or(Role::kAdmin)));
    auditor_.Record(context, acting, "build.start", "project:" + name, nullptr,
                    BuildToJson(build));
    return Ok(nlohmann::json{{"idStr", std::to_string(build.id)}});
  });
}

HandlerResult Api::BuildHistory(const RequestContext& context) {
  return Respond([&]() -> Result<HandlerResult> {
    MARKET_ASSIGN_OR_RETURN(RequestParams params, DecodeParams(context));
    MARKET_ASSIGN_OR_RETURN(std::string raw_name, params.Required("projectName"));
    MARKET_ASSIGN_OR_RETURN(std::string name, NormalizeProjectName("projectName", raw_name));
    MARKET_ASSIGN_OR_RETURN(std::string page_text, params.NumberText("page"));
    MARKET_ASSIGN_OR_RETURN(std::string size_text, params.NumberText("page_size"));
    MARKET_ASSIGN_OR_RETURN(int page, ParsePage("page", page_text));
    MARKET_ASSIGN_OR_RETURN(int page_size, ParsePageSize("page_size", size_text));
    MARKET_ASSIGN_OR_RETURN(BuildPage history, deps_.builds->History(name, page, page_size));
    if (history.total_count == 0) {
      return Fail(Errc::kBuildProjectMissing, fmt::format("project {} has no builds", name));
    }
    Build latest;
    if (page == 1 && !history.builds.empty()) {
      latest = history.builds.front();
    } else {
      MARKET_ASSIGN_OR_RETURN(BuildPage first, deps_.builds->History(name, 1, 1));
      if (first.builds.empty()) {
        return Fail(Errc::kBuildProjectMissing, fmt::format("project {} has no builds", name));
      }
      latest = first.builds.front();
    }
    MARKET_ASSIGN_OR_RETURN(LogChunk log, ReadAll(*deps_.builds, latest.id, 0, kHistoryLogBytes));
    nlohmann::json builds = nlohmann::json::array();
    for (const Build& build : history.builds) builds.push_back(BuildToJson(build));
    return Ok(nlohmann::json{{"state", LegacyStateNumber(latest.state)},
                             {"logs", std::move(log.text)},
                             {"latest", BuildToJson(latest)},
                             {"builds", std::move(builds)},
                             {"page", page},
                             {"page_size", page_size},
                             {"total_count", history.total_count}});
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
    MARKET_ASSIGN_OR_RETURN(LogChunk chunk, ReadAll(*deps_.builds, build.id, offset, kMaxLogRead));
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
    Result<Build> before = deps_.builds->Get(id);
    MARKET_ASSIGN_OR_RETURN(Build build, deps_.builds->Cancel(id, acting.operator_name));
    auditor_.Record(context, acting, "build.cancel", "project:" + build.project,
                    before ? BuildToJson(*before) : nlohmann::json(nullptr), BuildToJson(build));
    return Ok(BuildToJson(build));
  });
}

}  // namespace market::server
