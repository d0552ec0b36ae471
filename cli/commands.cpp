#include "commands.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>

#include "market/time.hpp"
#include "table.hpp"

namespace market::cli {

namespace {

using nlohmann::json;

constexpr auto kLogPollInterval = std::chrono::milliseconds(500);
// A log answer this large means more is waiting: ask again at once instead of sleeping.
constexpr std::size_t kBusyLogBytes = 64 * 1024;
constexpr int kHistoryLookup = 100;  // builds searched for the summary after --follow

// A field as display text: strings as they are, null or missing as "", others as JSON.
std::string Text(const json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

void PrintJson(const json& value) { std::cout << value.dump(2) << '\n'; }

bool IsTerminal(std::string_view state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

// Prints `text` after `label`, continuation lines indented under the first.
void PrintIndented(std::string_view label, std::string_view text, std::size_t indent) {
  std::cout << label;
  std::size_t start = 0;
  bool first = true;
  for (;;) {
    std::size_t end = text.find('\n', start);
    if (!first) std::cout << std::string(indent, ' ');
    std::cout << text.substr(start, end - start) << '\n';
    first = false;
    if (end == std::string_view::npos || end + 1 == text.size()) break;
    start = end + 1;
  }
}

void PrintPlugin(std::size_t number, const json& plugin) {
  std::cout << fmt::format("[{}] {}\n", number, Text(plugin, "$$plugin"));
  if (!plugin.is_object()) return;
  for (const auto& [key, value] : plugin.items()) {
    if (key == "$$plugin") continue;
    const std::string label = fmt::format("    {}: ", key);
    const std::size_t indent = label.size();
    if (value.is_array()) {
      if (value.empty()) std::cout << label << "(none)\n";
      for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string item =
            value[i].is_string() ? value[i].get<std::string>() : value[i].dump();
        PrintIndented(i == 0 ? label : std::string(indent, ' '), item, indent);
      }
    } else if (value.is_string()) {
      PrintIndented(label, value.get<std::string>(), indent);
    } else {
      std::cout << label << value.dump() << '\n';
    }
  }
}

// Writes the log to stdout and, when stderr is a terminal, keeps one progress line there
// below it. Log text goes out in whole lines while the progress line is shown, so the two
// never share a line.
class LogFollower {
 public:
  LogFollower() : progress_(isatty(STDERR_FILENO) == 1), start_(Clock::now()) {}

  void Write(const std::string& text) {
    if (text.empty()) return;
    if (!progress_) {
      std::cout << text << std::flush;
      return;
    }
    pending_ += text;
    const std::size_t cut = pending_.rfind('\n');
    if (cut == std::string::npos) return;
    ClearProgress();
    std::cout << pending_.substr(0, cut + 1) << std::flush;
    pending_.erase(0, cut + 1);
  }

  void ShowProgress(std::string_view state, std::int64_t log_bytes) {
    if (!progress_) return;
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start_).count();
    std::cerr << fmt::format("\r\x1b[K[{}] {} elapsed, {} of log", state, FormatDuration(elapsed),
                             FormatBytes(log_bytes))
              << std::flush;
  }

  // The last partial line, and the progress line removed: the end of the follow.
  void Finish() {
    ClearProgress();
    if (!pending_.empty()) {
      std::cout << pending_;
      if (pending_.back() != '\n') std::cout << '\n';
      pending_.clear();
    }
    std::cout << std::flush;
  }

 private:
  using Clock = std::chrono::steady_clock;

  void ClearProgress() {
    if (progress_) std::cerr << "\r\x1b[K" << std::flush;
  }

  bool progress_;
  Clock::time_point start_;
  std::string pending_;
};

// Polls the log from offset 0 until the build has ended; returns its final state.
CliResult<std::string> FollowLog(ApiClient& api, const std::string& id) {
  LogFollower follower;
  std::int64_t offset = 0;
  std::string state = "queued";
  for (;;) {
    CliResult<Envelope> answer =
        api.Get("/api/project/buildLog", {{"id", id}, {"offset", std::to_string(offset)}});
    if (!answer) {
      follower.Finish();
      return std::unexpected(answer.error());
    }
    const json& chunk = answer->content();
    const std::string text = Text(chunk, "text");
    offset = chunk.value("next_offset", offset);
    state = Text(chunk, "state");
    follower.Write(text);
    // The state is read before the log: a build that just ended may still say running.
    if (chunk.value("finished", false) && IsTerminal(state)) break;
    follower.ShowProgress(state, offset);
    if (text.size() < kBusyLogBytes) std::this_thread::sleep_for(kLogPollInterval);
  }
  follower.Finish();
  return state;
}

// The build's row in the project's history (for the digest or the failure reason).
json FindBuild(ApiClient& api, const std::string& project, const std::string& id) {
  CliResult<Envelope> history = api.Get(
      "/api/project/buildHistory",
      {{"projectName", project}, {"page", "1"}, {"page_size", std::to_string(kHistoryLookup)}});
  if (!history) return nullptr;
  const json& builds = history->content().value("builds", json::array());
  for (const json& build : builds) {
    if (Text(build, "idStr") == id) return build;
  }
  return nullptr;
}

CliResult<std::string> ReadInput(const std::string& file) {
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return UsageError(fmt::format("--file {}: cannot be read", file));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return UsageError(fmt::format("--file {}: read error", file));
  return text.str();
}

}  // namespace

std::string ShortTime(std::string_view iso) {
  // The server writes "YYYY-MM-DDTHH:MM:SS.mmmZ"; anything else is shown as it came.
  if (iso.size() < 19 || !ParseIso8601(iso)) return std::string(iso);
  return fmt::format("{} {}", iso.substr(0, 10), iso.substr(11, 8));
}

std::string FormatDuration(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 60) return fmt::format("{}s", seconds);
  if (seconds < 3600) return fmt::format("{}m{:02}s", seconds / 60, seconds % 60);
  return fmt::format("{}h{:02}m", seconds / 3600, seconds % 3600 / 60);
}

std::string FormatBytes(std::int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024 * 1024));
}

CliResult<json> MakeSaveBody(const SaveArgs& args, std::string_view file_text) {
  const std::string where = args.file == "-" ? "standard input" : "--file " + args.file;
  json parsed = json::parse(file_text, nullptr, false);
  if (parsed.is_discarded()) return UsageError(where + ": not valid JSON");
  json body;
  if (parsed.is_array()) {
    body = json::object();
    body["$$plugin"] = std::move(parsed);
  } else if (parsed.is_object()) {
    body = std::move(parsed);
    body.erase("projectName");  // the name on the command line is the one saved
  } else {
    return UsageError(where +
                      ": expected a pipeline array [{\"$$plugin\": ...}] or a save body object");
  }
  if (body.contains("$$plugin")) {
    const json& pipeline = body["$$plugin"];
    if (!pipeline.is_array()) return UsageError(where + ": \"$$plugin\" must be an array");
    for (std::size_t i = 0; i < pipeline.size(); ++i) {
      if (!pipeline[i].is_object() || !pipeline[i].contains("$$plugin") ||
          !pipeline[i]["$$plugin"].is_string()) {
        return UsageError(
            fmt::format("{}: plugin {} must be an object with a \"$$plugin\" name", where, i + 1));
      }
    }
  }
  body["project"] = args.name;
  if (!args.cluster.empty()) body["Cluster"] = args.cluster;
  if (!args.type.empty()) body["DefineDockerFileType"] = args.type;
  if (args.add) {
    body["addOrUpdate"] = "add";
  } else if (!body.contains("addOrUpdate")) {
    body["addOrUpdate"] = "update";
  }
  return body;
}

CliResult<int> ListCommand(CommandContext& context, const ListArgs& args) {
  CliResult<Envelope> answer =
      context.api.Get("/api/project/list", {{"projectName", args.filter},
                                            {"page", std::to_string(args.page)},
                                            {"page_size", std::to_string(args.page_size)}});
  if (!answer) return std::unexpected(answer.error());
  const json& projects = answer->content();
  if (context.json) {
    PrintJson(projects);
    return kExitOk;
  }
  Table table({"NAME", "CLUSTER", "TYPE", "LAST MODIFIED", "BY"});
  for (const json& project : projects) {
    table.AddRow({Text(project, "name"), Text(project, "Cluster"),
                  Text(project, "DefineDockerFileType"), ShortTime(Text(project, "lastModifyTime")),
                  Text(project, "lastModifyOperator")});
  }
  if (!table.empty()) table.Render(std::cout);
  const std::int64_t total = answer->whole.value("total_count", std::int64_t{0});
  const std::int64_t size = answer->whole.value("page_size", std::int64_t{args.page_size});
  const std::int64_t pages = size > 0 ? (total + size - 1) / size : 0;
  std::cout << fmt::format("total: {} project{} (page {} of {})\n", total, total == 1 ? "" : "s",
                           args.page, std::max<std::int64_t>(pages, 1));
  return kExitOk;
}

CliResult<int> InfoCommand(CommandContext& context, const std::string& name) {
  CliResult<Envelope> answer = context.api.Get("/api/project/info", {{"projectName", name}});
  if (!answer) return std::unexpected(answer.error());
  const json& project = answer->content();
  if (context.json) {
    PrintJson(project);
    return kExitOk;
  }
  std::cout << fmt::format("name:           {}\n", Text(project, "name"))
            << fmt::format("cluster:        {}\n", Text(project, "Cluster"))
            << fmt::format("type:           {}\n", Text(project, "DefineDockerFileType"))
            << fmt::format("creator:        {}\n", Text(project, "creator"))
            << fmt::format("created:        {}\n", ShortTime(Text(project, "createTime")))
            << fmt::format("last modified:  {} by {}\n", ShortTime(Text(project, "lastModifyTime")),
                           Text(project, "lastModifyOperator"));
  const json plugins = project.value("plugins", json::array());
  std::cout << fmt::format("\npipeline: {} plugin{}\n", plugins.size(),
                           plugins.size() == 1 ? "" : "s");
  for (std::size_t i = 0; i < plugins.size(); ++i) {
    std::cout << '\n';
    PrintPlugin(i + 1, plugins[i]);
  }
  return kExitOk;
}

CliResult<int> NewCommand(CommandContext& context, const std::string& name) {
  if (CliResult<void> ok = context.api.RequireOperator(); !ok) return std::unexpected(ok.error());
  CliResult<Envelope> answer =
      context.api.Post("/api/project/new", {{"projectName", name}});
  if (!answer) return std::unexpected(answer.error());
  if (context.json) {
    PrintJson(answer->content());
  } else {
    std::cout << fmt::format("created project {}\n", name);
  }
  return kExitOk;
}

CliResult<int> DeleteCommand(CommandContext& context, const std::string& name) {
  if (CliResult<void> ok = context.api.RequireOperator(); !ok) return std::unexpected(ok.error());
  CliResult<Envelope> answer =
      context.api.Post("/api/project/delete", {{"projectName", name}});
  if (!answer) return std::unexpected(answer.error());
  if (context.json) {
    PrintJson(answer->content());
  } else {
    std::cout << fmt::format("deleted project {}\n", name);
  }
  return kExitOk;
}

CliResult<int> CloneCommand(CommandContext& context, const std::string& source,
                            const std::string& destination) {
  if (CliResult<void> ok = context.api.RequireOperator(); !ok) return std::unexpected(ok.error());
  CliResult<Envelope> answer = context.api.Post(
      "/api/project/clone",
      {{"srcProjectName", source}, {"dstProjectName", destination}});
  if (!answer) return std::unexpected(answer.error());
  if (context.json) {
    PrintJson(answer->content());
  } else {
    std::cout << fmt::format("cloned project {} to {}\n", source, destination);
  }
  return kExitOk;
}

CliResult<int> SaveCommand(CommandContext& context, const SaveArgs& args) {
  if (CliResult<void> ok = context.api.RequireOperator(); !ok) return std::unexpected(ok.error());
  CliResult<std::string> text = ReadInput(args.file);
  if (!text) return std::unexpected(text.error());
  CliResult<json> body = MakeSaveBody(args, *text);
  if (!body) return std::unexpected(body.error());
  body->erase("operator");  // the caller is the one making the change, whatever the file says
  const std::size_t plugins = body->contains("$$plugin") ? (*body)["$$plugin"].size() : 0;
  CliResult<Envelope> answer = context.api.Post("/api/project/save", std::move(*body));
  if (!answer) return std::unexpected(answer.error());
  if (context.json) {
    PrintJson(answer->content());
  } else {
    std::cout << fmt::format("saved project {} ({} plugin{})\n", args.name, plugins,
                             plugins == 1 ? "" : "s");
  }
  return kExitOk;
}

CliResult<int> DockerfileCommand(CommandContext& context, const std::string& name) {
  CliResult<Envelope> answer = context.api.Get("/api/project/dockerfile", {{"projectName", name}});
  if (!answer) return std::unexpected(answer.error());
  const json& content = answer->content();
  if (context.json || !content.is_string()) {
    PrintJson(content);
    return kExitOk;
  }
  const std::string text = content.get<std::string>();
  std::cout << text;
  if (!text.empty() && text.back() != '\n') std::cout << '\n';
  return kExitOk;
}

CliResult<int> BuildCommand(CommandContext& context, const BuildArgs& args) {
  if (CliResult<void> ok = context.api.RequireOperator(); !ok) return std::unexpected(ok.error());
  json body = {{"projectName", args.name}};
  if (!args.tag.empty()) body["tag"] = args.tag;
  if (args.no_cache) body["noCache"] = true;
  CliResult<Envelope> answer = context.api.Post("/api/project/build", std::move(body));
  if (!answer) return std::unexpected(answer.error());
  const std::string id = Text(answer->content(), "idStr");
  if (!args.follow) {
    if (context.json) {
      PrintJson(answer->content());
    } else {
      std::cout << id << '\n';
    }
    return kExitOk;
  }
  // Following: stdout carries the log alone, so the id goes to stderr.
  std::cerr << fmt::format("build {} of {} queued\n", id, args.name);
  CliResult<std::string> state = FollowLog(context.api, id);
  if (!state) return std::unexpected(state.error());
  const json build = FindBuild(context.api, args.name, id);
  if (*state == "succeeded") {
    const std::string image = Text(build, "image");
    const std::string digest = Text(build, "digest");
    std::cerr << fmt::format("build {} succeeded", id)
              << (image.empty() ? "" : ": " + image + (digest.empty() ? "" : "@" + digest)) << '\n';
    return kExitOk;
  }
  const std::string reason = Text(build, "reason");
  std::cerr << fmt::format("build {} {}", id, *state) << (reason.empty() ? "" : ": " + reason)
            << '\n';
  return kExitFailure;
}

CliResult<int> CancelCommand(CommandContext& context, std::int64_t id) {
  if (CliResult<void> ok = context.api.RequireOperator(); !ok) return std::unexpected(ok.error());
  CliResult<Envelope> answer =
      context.api.Post("/api/project/buildCancel", {{"id", id}});
  if (!answer) return std::unexpected(answer.error());
  const json& build = answer->content();
  if (context.json) {
    PrintJson(build);
    return kExitOk;
  }
  const std::string state = Text(build, "state");
  if (state == "cancelled") {
    std::cout << fmt::format("build {} cancelled\n", id);
  } else {
    std::cout << fmt::format("build {} ({}): cancel requested\n", id, state);
  }
  return kExitOk;
}

CliResult<int> HistoryCommand(CommandContext& context, const HistoryArgs& args) {
  CliResult<Envelope> answer =
      context.api.Get("/api/project/buildHistory", {{"projectName", args.name},
                                                    {"page", std::to_string(args.page)},
                                                    {"page_size", std::to_string(args.page_size)}});
  if (!answer) return std::unexpected(answer.error());
  const json& content = answer->content();
  if (context.json) {
    PrintJson(content);
    return kExitOk;
  }
  const auto now = std::chrono::system_clock::now();
  Table table({"ID", "TAG", "STATE", "OPERATOR", "QUEUED", "DURATION", "DIGEST"});
  for (const json& build : content.value("builds", json::array())) {
    std::string duration = "-";
    if (auto started = ParseIso8601(Text(build, "startedAt"))) {
      auto finished = ParseIso8601(Text(build, "finishedAt"));
      const auto end = finished ? *finished : std::chrono::floor<std::chrono::milliseconds>(now);
      duration =
          FormatDuration(std::chrono::duration_cast<std::chrono::seconds>(end - *started).count());
    }
    std::string digest = Text(build, "digest");
    // "sha256:" and 12 hex digits identify an image as well as docker's short ids do.
    if (digest.size() > 19) digest.resize(19);
    table.AddRow({Text(build, "idStr"), Text(build, "tag"), Text(build, "state"),
                  Text(build, "operator"), ShortTime(Text(build, "queuedAt")), duration,
                  digest.empty() ? "-" : digest});
  }
  if (!table.empty()) table.Render(std::cout);
  const std::int64_t total = content.value("total_count", std::int64_t{0});
  const std::int64_t size = content.value("page_size", std::int64_t{args.page_size});
  const std::int64_t pages = size > 0 ? (total + size - 1) / size : 0;
  std::cout << fmt::format("total: {} build{} (page {} of {})\n", total, total == 1 ? "" : "s",
                           args.page, std::max<std::int64_t>(pages, 1));
  return kExitOk;
}

}  // namespace market::cli
