// docs/api.md as a new user follows it: every curl example of its ```sh and ```bash blocks runs,
// in the order of the document, against a real server (a fresh SQLite database, a throwaway
// registry holding the image a build would have pushed), and answers what the document shows
// after it. An example that cannot run here is marked with <!-- docs-check: skip REASON --> on
// the line before its block; the marks are counted so they stay few.

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harbor_client/registry_process.hpp"
#include "process/process.hpp"
#include "server_harness.hpp"

#ifndef MARKET_SOURCE_DIR
#error "MARKET_SOURCE_DIR must name the source tree"
#endif

namespace market::server::testing {
namespace {

using json = nlohmann::json;

constexpr std::string_view kSkipMark = "<!-- docs-check: skip";
constexpr int kMaxSkipped = 8;

// What the document shows after a command: headers (`# Name: value`) and a JSON body.
struct Shown {
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // JSON with `...` for what it leaves out
};

struct Command {
  std::string text;  // one logical shell command, continuation lines joined
  int line = 0;      // in docs/api.md
  std::optional<Shown> shown;
};

struct Block {
  int line = 0;
  bool skipped = false;
  std::vector<Command> commands;
};

std::string Trim(std::string_view text) {
  std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  std::size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

// Whether `text` ends inside a single- or double-quoted string (a command going on).
bool OpenQuote(std::string_view text) {
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote == 0) {
      if (c == '\\') {
        ++i;
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '#' && (i == 0 || text[i - 1] == ' ')) {
        return false;  // a comment to the end of the line
      }
    } else if (c == quote) {
      quote = 0;
    } else if (quote == '"' && c == '\\') {
      ++i;
    }
  }
  return quote != 0;
}

// `# ...` lines after a command, when they show a response: headers then JSON.
std::optional<Shown> ShownOf(const std::vector<std::string>& comments) {
  Shown shown;
  static const std::regex kHeader(R"(^([A-Za-z][A-Za-z0-9-]*): (.*)$)");
  bool body = false;
  for (const std::string& comment : comments) {
    std::smatch match;
    if (!body && std::regex_match(comment, match, kHeader)) {
      std::string name = match[1];
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      shown.headers[name] = match[2];
      continue;
    }
    if (!body && !comment.starts_with("{") && !comment.starts_with("[")) return std::nullopt;
    body = true;
    shown.body += comment + "\n";
  }
  if (shown.headers.empty() && shown.body.empty()) return std::nullopt;
  return shown;
}

std::vector<Block> ReadBlocks(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  std::vector<Block> blocks;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string fence = Trim(lines[i]);
    if (fence != "```sh" && fence != "```bash") continue;
    Block block;
    block.line = static_cast<int>(i + 1);
    for (std::size_t back = i; back-- > 0;) {
      std::string before = Trim(lines[back]);
      if (before.empty()) continue;
      block.skipped = before.starts_with(kSkipMark);
      break;
    }
    std::vector<std::string> comments;
    auto finish_command = [&] {
      if (!block.commands.empty() && !block.commands.back().shown) {
        block.commands.back().shown = ShownOf(comments);
      }
      comments.clear();
    };
    std::size_t j = i + 1;
    for (; j < lines.size() && Trim(lines[j]) != "```"; ++j) {
      std::string line = Trim(lines[j]);
      if (line.empty()) continue;
      if (line.starts_with("#")) {
        comments.push_back(Trim(std::string_view(line).substr(1)));
        continue;
      }
      finish_command();
      Command command;
      command.line = static_cast<int>(j + 1);
      command.text = lines[j];
      // Backslash continuations and quoted strings over several lines.
      while (j + 1 < lines.size()) {
        std::string trimmed = Trim(command.text);
        if (trimmed.ends_with("\\")) {
          command.text = trimmed.substr(0, trimmed.size() - 1) + " " + Trim(lines[++j]);
        } else if (OpenQuote(command.text)) {
          command.text += "\n" + lines[++j];
        } else {
          break;
        }
      }
      block.commands.push_back(std::move(command));
    }
    finish_command();
    // A ```json block right after this one shows the response of its last command.
    std::size_t k = j + 1;
    while (k < lines.size() && Trim(lines[k]).empty()) ++k;
    if (k < lines.size() && Trim(lines[k]) == "```json" && !block.commands.empty()) {
      Shown shown;
      for (++k; k < lines.size() && Trim(lines[k]) != "```"; ++k) shown.body += lines[k] + "\n";
      block.commands.back().shown = shown;
    }
    blocks.push_back(std::move(block));
    i = j;
  }
  return blocks;
}

// The HTTP status docs/api.md's return code table gives each code.
std::map<int, int> StatusOfCodes(const std::string& path) {
  std::ifstream in(path);
  std::map<int, int> out;
  static const std::regex kRow(R"(^\| (\d{5}) \| (\d{3}) \|)");
  for (std::string line; std::getline(in, line);) {
    std::smatch match;
    if (std::regex_search(line, match, kRow)) out[std::stoi(match[1])] = std::stoi(match[2]);
  }
  return out;
}

// The shown JSON with what it leaves out made explicit: a bare `...` (and `{...}`) becomes the
// string "...", which matches anything; a trailing `"..."` in an array allows more items.
json ParseShown(const std::string& text) {
  std::string out;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (c == '{' && text.compare(i + 1, 3, "...") == 0) {
      out += "\"...\"";
      i = text.find('}', i);
    } else if (text.compare(i, 3, "...") == 0) {
      out += "\"...\"";
      i += 2;
    } else {
      out += c;
    }
  }
  json parsed = json::parse(out, nullptr, false);
  INFO("shown response: " << text);
  REQUIRE_FALSE(parsed.is_discarded());
  return parsed;
}

// Values that differ from run to run: only their presence is compared.
bool Volatile(const std::string& key) {
  static const std::set<std::string> kKeys = {
      "id",          "idStr",      "project_id",   "owner_id",  "createTime", "lastModifyTime",
      "time",        "queuedAt",   "startedAt",    "finishedAt", "creation_time", "update_time",
      "digest",      "size",       "created",      "requestId", "config",   "mediaType"};
  return kKeys.count(key) != 0;
}

// Whether `actual` has what `shown` shows; `where` names the first difference.
bool Matches(const json& shown, const json& actual, std::string& where, const std::string& at) {
  if (shown.is_string()) {
    const std::string& text = shown.get_ref<const std::string&>();
    std::size_t dots = text.find("...");
    if (dots != std::string::npos) {
      if (dots == 0) return true;
      if (actual.is_string() && actual.get<std::string>().starts_with(text.substr(0, dots))) {
        return true;
      }
      where = at + ": " + actual.dump() + " does not start with " + text.substr(0, dots);
      return false;
    }
  }
  if (shown.is_object()) {
    if (!actual.is_object()) {
      where = at + ": not an object: " + actual.dump().substr(0, 200);
      return false;
    }
    for (const auto& [key, value] : shown.items()) {
      if (!actual.contains(key)) {
        where = at + "." + key + ": missing";
        return false;
      }
      if (Volatile(key)) continue;
      if (!Matches(value, actual[key], where, at + "." + key)) return false;
    }
    return true;
  }
  if (shown.is_array()) {
    if (!actual.is_array()) {
      where = at + ": not an array: " + actual.dump().substr(0, 200);
      return false;
    }
    std::size_t count = shown.size();
    bool more = count > 0 && shown.back() == "...";
    if (more) --count;
    if (more ? actual.size() < count : actual.size() != count) {
      where = at + ": " + std::to_string(actual.size()) + " items, the document shows " +
              std::to_string(count) + (more ? " or more" : "");
      return false;
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (!Matches(shown[i], actual[i], where, at + "[" + std::to_string(i) + "]")) return false;
    }
    return true;
  }
  if (shown != actual) {
    where = at + ": " + actual.dump() + ", the document shows " + shown.dump();
    return false;
  }
  return true;
}

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

// curl -i's output: the last status line (after any 100 Continue), its headers, the body.
Answer ParseCurl(const std::string& output) {
  Answer answer;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = output.find("\r\n\r\n", start);
    REQUIRE(end != std::string::npos);
    std::string head = output.substr(start, end - start);
    start = end + 4;
    std::istringstream lines(head);
    std::string status_line;
    std::getline(lines, status_line);
    REQUIRE(status_line.starts_with("HTTP/"));
    answer.status = std::stoi(status_line.substr(status_line.find(' ') + 1, 3));
    if (answer.status == 100) continue;
    for (std::string line; std::getline(lines, line);) {
      std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      answer.headers[name] = Trim(std::string_view(line).substr(colon + 1));
    }
    break;
  }
  answer.body = output.substr(start);
  return answer;
}

// Runs one command with bash: HOST names the test server, variables set by earlier commands
// (`NAME=$(...)`) are passed on. A curl command runs with -sS -i so its status and headers show.
std::string RunShell(const std::string& script, const std::map<std::string, std::string>& vars) {
  market::process::Spec spec;
  spec.argv = {"bash", "-c",
               "curl() { command curl --noproxy '*' \"$@\"; }\nset -o pipefail\n" + script};
  for (const auto& [name, value] : vars) spec.env.emplace_back(name, value);
  spec.timeout = std::chrono::seconds(60);
  std::string errors;
  Result<market::process::Captured> run = market::process::RunCapture(
      spec, [&](std::string_view line) { errors.append(line).append("\n"); }, std::stop_token{});
  REQUIRE(run);
  INFO("stderr: " << errors);
  REQUIRE(run->outcome.Succeeded());
  return run->output;
}

}  // namespace

TEST_CASE("every curl example of docs/api.md runs and answers what the document shows",
          "[docs][registry]") {
  const std::string doc = std::string(MARKET_SOURCE_DIR) + "/docs/api.md";
  std::vector<Block> blocks = ReadBlocks(doc);
  std::map<int, int> status_of_code = StatusOfCodes(doc);
  REQUIRE(status_of_code.size() >= 20);

  // What a build of myweb would have pushed: two tags of distinct images.
  market::testing::RegistryProcess registry(market::testing::RegistryProcess::Options{});
  market::testing::PushTestImage(registry.Url(), "default_cluster/myweb", {"v1"}, "first");
  market::testing::PushTestImage(registry.Url(), "default_cluster/myweb", {"v2"}, "second");
  TestServer server(market::testing::Backend::kSqlite, [&](ServerConfig& config) {
    config.registry_url = registry.Url();
    config.registry_kind = "distribution";
    config.registry_insecure = true;
  });
  market::testing::TempDir dir;
  const std::string output = (dir.path() / "response").string();
  std::map<std::string, std::string> vars = {
      {"HOST", "127.0.0.1:" + std::to_string(server.port())},
      {"NO_PROXY", "*"},
      {"DOCS_CHECK_OUT", output}};

  int skipped = 0;
  int ran = 0;
  static const std::regex kAssignment(R"(^([A-Z_][A-Z0-9_]*)=\$\((.*)\)$)");
  for (const Block& block : blocks) {
    bool has_curl = false;
    for (const Command& command : block.commands) {
      has_curl = has_curl || command.text.find("curl ") != std::string::npos;
    }
    if (!has_curl) continue;  // `export HOST=...`, the command-line client
    if (block.skipped) {
      ++skipped;
      continue;
    }
    for (const Command& command : block.commands) {
      INFO("docs/api.md:" << command.line << ": " << command.text);
      std::string text = Trim(command.text);
      std::smatch assignment;
      if (std::regex_match(text, assignment, kAssignment)) {
        std::string value = RunShell(assignment[2].str(), vars);
        while (!value.empty() && value.back() == '\n') value.pop_back();
        REQUIRE_FALSE(value.empty());
        vars[assignment[1].str()] = value;
        continue;
      }
      REQUIRE(text.starts_with("curl "));  // anything else needs a skip mark
      // The response goes to a file: bash's output comes back line by line, without CRs.
      RunShell("command curl -sS -i --noproxy '*' -o \"$DOCS_CHECK_OUT\" " + text.substr(5), vars);
      Answer answer = ParseCurl(market::testing::ReadFileOrEmpty(output));
      ++ran;
      INFO("HTTP " << answer.status << ": " << answer.body.substr(0, 2000));
      if (!command.shown) {
        CHECK(answer.status >= 200);
        CHECK(answer.status < 300);
        continue;
      }
      for (const auto& [name, value] : command.shown->headers) {
        INFO("header " << name);
        REQUIRE(answer.headers.count(name) == 1);
        if (value != "...") CHECK(answer.headers[name] == value);
      }
      if (command.shown->body.empty()) {
        CHECK(answer.status == 200);
        continue;
      }
      json shown = ParseShown(command.shown->body);
      int expected_status = 200;
      if (shown.is_object() && shown.contains("code") && shown["code"].is_number_integer()) {
        int code = shown["code"].get<int>();
        if (code != 0 && code != 10000) {
          REQUIRE(status_of_code.count(code) == 1);
          expected_status = status_of_code[code];
        }
      }
      CHECK(answer.status == expected_status);
      json actual = json::parse(answer.body, nullptr, false);
      REQUIRE_FALSE(actual.is_discarded());
      std::string where;
      INFO("actual: " << actual.dump().substr(0, 2000));
      bool matches = Matches(shown, actual, where, "body");
      INFO(where);
      CHECK(matches);
    }
  }
  CHECK(ran >= 20);
  // Marks are for what cannot run here (a long real build, Harbor, credentials): few.
  CHECK(skipped <= kMaxSkipped);
}

}  // namespace market::server::testing
