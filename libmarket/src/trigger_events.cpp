// Reading git hosts' push events and planning the build a trigger queues for one.

#include "market/trigger_events.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "anchored_regex.hpp"
#include "market/json_bounded.hpp"
#include "market/validation.hpp"
#include "market/webhook_signature.hpp"

namespace market {

namespace {

constexpr std::size_t kMaxRefLength = 255;  // what a ref rule is ever matched against
constexpr std::size_t kMaxTemplates = 8;
constexpr std::string_view kBranchPrefix = "refs/heads/";
constexpr std::string_view kTagPrefix = "refs/tags/";
constexpr std::string_view kSkipMarker = "[skip build]";

std::string Header(const HookRequest& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? std::string() : it->second;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The string at `pointer` in `json`; "" when absent or not a string.
std::string Text(const nlohmann::json& json, const char* pointer) {
  const nlohmann::json::json_pointer path(pointer);
  if (!json.contains(path)) return {};
  const nlohmann::json& value = json.at(path);
  return value.is_string() ? value.get<std::string>() : std::string();
}

bool IsZeroSha(std::string_view sha) {
  return !sha.empty() && std::all_of(sha.begin(), sha.end(), [](char c) { return c == '0'; });
}

void AddUrls(const nlohmann::json& json, std::vector<std::string>& urls,
             std::initializer_list<const char*> pointers) {
  for (const char* pointer : pointers) {
    std::string url = Text(json, pointer);
    if (!url.empty() && std::find(urls.begin(), urls.end(), url) == urls.end()) {
      urls.push_back(std::move(url));
    }
  }
}

Result<void> Unauthorized(std::string_view header) {
  return Fail(Errc::kUnauthorized,
              fmt::format("the {} header is missing or does not match the trigger's secret",
                          header));
}

bool Matches(const std::string& pattern, std::string_view name) {
  return MatchesAnchored(pattern, name);  // a rule the matcher gives up on takes no ref
}

// A branch or tag name as tag text: what a tag cannot hold becomes '-', and it starts with a
// letter, digit or '_'.
std::string AsTagText(std::string_view name) {
  std::string out;
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' ||
                    c == '-';
    out.push_back(ok ? c : '-');
  }
  while (!out.empty() && (out.front() == '.' || out.front() == '-')) out.erase(out.begin());
  return out;
}

const std::vector<std::string>& TemplateVariables() {
  static const std::vector<std::string> names = {"branch", "tag", "short_sha", "sha",
                                                 "timestamp"};
  return names;
}

// Expands one template; nullopt when it names a variable without a value (or an unknown one).
std::optional<std::string> Expand(std::string_view text,
                                  const std::map<std::string, std::string>& values) {
  std::string out;
  while (!text.empty()) {
    auto open = text.find("${");
    out.append(text.substr(0, open));
    if (open == std::string_view::npos) break;
    auto close = text.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    std::string name(text.substr(open + 2, close - open - 2));
    auto value = values.find(name);
    if (value == values.end() || value->second.empty()) return std::nullopt;
    out += value->second;
    text.remove_prefix(close + 1);
  }
  return out;
}

}  // namespace

std::string_view ToString(GitHost host) {
  switch (host) {
    case GitHost::kGitHub:
      return "github";
    case GitHost::kGitea:
      return "gitea";
    case GitHost::kGitLab:
      return "gitlab";
    case GitHost::kGeneric:
      return "generic";
  }
  return "generic";
}

GitHost DetectGitHost(const HookRequest& request) {
  if (request.headers.contains("x-gitea-event")) return GitHost::kGitea;
  if (request.headers.contains("x-github-event")) return GitHost::kGitHub;
  if (request.headers.contains("x-gitlab-event")) return GitHost::kGitLab;
  return GitHost::kGeneric;
}

Result<void> VerifyHookRequest(const HookRequest& request, std::string_view secret) {
  // An empty secret verifies nothing: every trigger has one, and this refuses all if not.
  if (secret.empty()) return Fail(Errc::kUnauthorized, "the trigger has no secret");
  switch (DetectGitHost(request)) {
    case GitHost::kGitHub: {
      const std::string given = Header(request, "x-hub-signature-256");
      const std::string expected = "sha256=" + HmacSha256Hex(secret, request.body);
      if (!ConstantTimeEquals(Lower(given), expected)) return Unauthorized("X-Hub-Signature-256");
      return {};
    }
    case GitHost::kGitea: {
      const std::string given = Header(request, "x-gitea-signature");
      if (!ConstantTimeEquals(Lower(given), HmacSha256Hex(secret, request.body))) {
        return Unauthorized("X-Gitea-Signature");
      }
      return {};
    }
    case GitHost::kGitLab:
      if (!ConstantTimeEquals(Header(request, "x-gitlab-token"), secret)) {
        return Unauthorized("X-Gitlab-Token");
      }
      return {};
    case GitHost::kGeneric: {
      const std::string authorization = Header(request, "authorization");
      constexpr std::string_view kBearer = "bearer ";
      const bool bearer = authorization.size() > kBearer.size() &&
                          Lower(authorization.substr(0, kBearer.size())) == kBearer;
      if (!bearer || !ConstantTimeEquals(authorization.substr(kBearer.size()), secret)) {
        return Unauthorized("Authorization (Bearer)");
      }
      return {};
    }
  }
  return Unauthorized("signature");
}

Result<PushEvent> ReadPushEvent(const HookRequest& request) {
  PushEvent event;
  event.host = DetectGitHost(request);
  switch (event.host) {
    case GitHost::kGitHub:
      event.event = Header(request, "x-github-event");
      event.delivery_id = Header(request, "x-github-delivery");
      break;
    case GitHost::kGitea:
      event.event = Header(request, "x-gitea-event");
      event.delivery_id = Header(request, "x-gitea-delivery");
      break;
    case GitHost::kGitLab: {
      const std::string name = Header(request, "x-gitlab-event");
      event.event = name == "Push Hook" || name == "Tag Push Hook" ? "push" : name;
      event.delivery_id = Header(request, "x-gitlab-event-uuid");
      break;
    }
    case GitHost::kGeneric:
      event.event = "push";
      break;
  }
  if (event.delivery_id.size() > 128) {
    return Fail(Errc::kInvalid, "the delivery id is longer than 128 characters");
  }
  if (event.event != "push") return event;  // a ping or another event: nothing to read

  MARKET_ASSIGN_OR_RETURN(auto parsed, ParseJsonBounded(request.body, "push event"));
  if (!parsed || !parsed->is_object()) {
    return Fail(Errc::kInvalid, "push event: the body is not a JSON object");
  }
  const nlohmann::json& body = *parsed;
  event.ref = Text(body, "/ref");
  switch (event.host) {
    case GitHost::kGitHub:
    case GitHost::kGitea:
      event.sha = Text(body, "/after");
      event.deleted = (body.contains("deleted") && body["deleted"].is_boolean() &&
                       body["deleted"].get<bool>()) ||
                      IsZeroSha(event.sha);
      event.message = Text(body, "/head_commit/message");
      AddUrls(body, event.repository_urls,
              {"/repository/clone_url", "/repository/ssh_url", "/repository/git_url",
               "/repository/html_url"});
      event.default_branch = Text(body, "/repository/default_branch");
      if (event.default_branch.empty()) event.default_branch = Text(body, "/repository/master_branch");
      break;
    case GitHost::kGitLab: {
      event.sha = Text(body, "/checkout_sha");
      if (event.sha.empty()) event.sha = Text(body, "/after");
      event.deleted = IsZeroSha(Text(body, "/after"));
      if (body.contains("commits") && body["commits"].is_array()) {
        for (const auto& commit : body["commits"]) {
          if (commit.is_object() && Text(commit, "/id") == event.sha) {
            event.message = Text(commit, "/message");
          }
        }
      }
      AddUrls(body, event.repository_urls,
              {"/project/git_http_url", "/project/git_ssh_url", "/project/web_url",
               "/repository/git_http_url", "/repository/git_ssh_url", "/repository/homepage"});
      event.default_branch = Text(body, "/project/default_branch");
      break;
    }
    case GitHost::kGeneric:
      event.sha = Text(body, "/sha");
      event.message = Text(body, "/message");
      event.delivery_id = Text(body, "/deliveryId");
      AddUrls(body, event.repository_urls, {"/repository"});
      event.default_branch = Text(body, "/defaultBranch");
      if (event.delivery_id.size() > 128) {
        return Fail(Errc::kInvalid, "deliveryId is longer than 128 characters");
      }
      break;
  }
  if (!event.ref.starts_with(kBranchPrefix) && !event.ref.starts_with(kTagPrefix)) {
    return Fail(Errc::kInvalid, "ref must be refs/heads/<branch> or refs/tags/<tag>");
  }
  if (event.ref.size() > kMaxRefLength) {
    return Fail(Errc::kInvalid, fmt::format("ref is longer than {} characters", kMaxRefLength));
  }
  if (!event.deleted && !IsFullCommitId(event.sha)) {
    return Fail(Errc::kInvalid, "sha must be a full commit id (40 or 64 hexadecimal digits)");
  }
  event.sha = Lower(event.sha);
  return event;
}

TriggerPlan PlanTriggeredBuild(const BuildTriggerRule& rule, const PushEvent& event,
                               TimePoint now) {
  TriggerPlan plan;
  if (event.event == "ping") {
    plan.skipped = "ping: the trigger is reachable";
    return plan;
  }
  if (event.event != "push") {
    plan.skipped = fmt::format("{} events build nothing", event.event);
    return plan;
  }
  if (event.deleted) {
    plan.skipped = "the ref was deleted";
    return plan;
  }
  if (Lower(event.message).find(kSkipMarker) != std::string::npos) {
    plan.skipped = "the commit message says [skip build]";
    return plan;
  }
  const std::string default_branch = !rule.default_branch.empty() ? rule.default_branch
                                     : !event.default_branch.empty() ? event.default_branch
                                                                     : "main";
  if (event.ref.starts_with(kBranchPrefix)) {
    const std::string branch = event.ref.substr(kBranchPrefix.size());
    const bool taken =
        rule.branches.empty() ? branch == default_branch : Matches(rule.branches, branch);
    if (!taken) {
      plan.skipped = rule.branches.empty()
                         ? fmt::format("branch {} is not the default branch {}", branch,
                                       default_branch)
                         : fmt::format("branch {} does not match the branches rule", branch);
      return plan;
    }
  } else {
    const std::string tag = event.ref.substr(kTagPrefix.size());
    if (rule.tags.empty() || !Matches(rule.tags, tag)) {
      plan.skipped = rule.tags.empty()
                         ? std::string("tag pushes build nothing (the trigger has no tags rule)")
                         : fmt::format("tag {} does not match the tags rule", tag);
      return plan;
    }
  }
  plan.tags = TriggeredTags(rule, event.ref, event.sha, default_branch, now);
  return plan;
}

std::vector<std::string> TriggeredTags(const BuildTriggerRule& rule, std::string_view ref,
                                       std::string_view sha, std::string_view default_branch,
                                       TimePoint now) {
  std::map<std::string, std::string> values;
  values["sha"] = std::string(sha);
  values["short_sha"] = std::string(sha.substr(0, 7));
  values["timestamp"] = FormatCompactUtc(now);
  values["timestamp"].erase(8, 1);  // YYYYMMDDHHMMSS: "-" is no part of a sortable stamp
  bool on_default = false;
  if (ref.starts_with(kBranchPrefix)) {
    values["branch"] = std::string(ref.substr(kBranchPrefix.size()));
    on_default = values["branch"] == default_branch;
  } else if (ref.starts_with(kTagPrefix)) {
    values["tag"] = std::string(ref.substr(kTagPrefix.size()));
  }
  static const std::vector<std::string> kDefaultTemplates = {"${short_sha}"};
  std::vector<std::string> tags = ExpandTagTemplates(
      rule.tag_templates.empty() ? kDefaultTemplates : rule.tag_templates, values);
  if (tags.empty()) tags.push_back(sha.empty() ? values["timestamp"] : values["short_sha"]);
  if (on_default && rule.latest && std::find(tags.begin(), tags.end(), "latest") == tags.end()) {
    tags.emplace_back("latest");
  }
  return tags;
}

std::vector<std::string> ExpandTagTemplates(const std::vector<std::string>& templates,
                                            std::map<std::string, std::string> values) {
  for (const char* name : {"branch", "tag"}) {
    if (auto it = values.find(name); it != values.end()) it->second = AsTagText(it->second);
  }
  std::vector<std::string> tags;
  for (const std::string& text : templates) {
    std::optional<std::string> tag = Expand(text, values);
    if (!tag || tag->size() > 128 || !ValidateTag("tag", *tag)) continue;
    if (std::find(tags.begin(), tags.end(), *tag) == tags.end()) tags.push_back(*tag);
  }
  return tags;
}

Result<void> ValidateTriggerRule(const BuildTriggerRule& rule) {
  if (!rule.branches.empty()) MARKET_RETURN_IF_ERROR(CompileAnchoredRegex("branches", rule.branches));
  if (!rule.tags.empty()) MARKET_RETURN_IF_ERROR(CompileAnchoredRegex("tags", rule.tags));
  if (rule.tag_templates.size() > kMaxTemplates) {
    return Fail(Errc::kInvalid,
                fmt::format("tagTemplates has more than {} templates", kMaxTemplates));
  }
  // Every variable given a value of its longest plausible shape: a template must yield a tag.
  std::map<std::string, std::string> sample = {{"branch", "main"},
                                               {"tag", "v1.0.0"},
                                               {"short_sha", "0123456"},
                                               {"sha", std::string(40, 'a')},
                                               {"timestamp", "20260101000000"}};
  for (const std::string& text : rule.tag_templates) {
    std::string_view rest = text;
    while (true) {
      auto open = rest.find("${");
      if (open == std::string_view::npos) break;
      auto close = rest.find('}', open);
      const std::string name(
          rest.substr(open + 2, close == std::string_view::npos ? close : close - open - 2));
      const auto& known = TemplateVariables();
      if (close == std::string_view::npos ||
          std::find(known.begin(), known.end(), name) == known.end()) {
        return Fail(Errc::kInvalid,
                    fmt::format("tagTemplates: {} names an unknown variable (known: ${{branch}}, "
                                "${{tag}}, ${{short_sha}}, ${{sha}}, ${{timestamp}})",
                                text));
      }
      rest.remove_prefix(close + 1);
    }
    std::optional<std::string> tag = Expand(text, sample);
    if (!tag || !ValidateTag("tag", *tag)) {
      return Fail(Errc::kInvalid, fmt::format("tagTemplates: {} does not make a valid tag "
                                              "([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})",
                                              text));
    }
  }
  const bool printable = std::all_of(rule.default_branch.begin(), rule.default_branch.end(),
                                     [](char c) { return c > 0x20 && c != 0x7f; });
  if (rule.default_branch.size() > kMaxRefLength || !printable) {
    return Fail(Errc::kInvalid, fmt::format("defaultBranch must be a branch name of at most {} "
                                            "printable characters",
                                            kMaxRefLength));
  }
  return {};
}

namespace {

// "host/path" of a repository URL, lower case, without user, port, ".git" or slashes at the
// ends; "" when it is not a URL.
std::string RepositoryKey(std::string_view url) {
  std::string_view rest = url;
  std::string host_and_path;
  auto scheme = rest.find("://");
  if (scheme != std::string_view::npos) {
    rest.remove_prefix(scheme + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) authority.remove_prefix(at + 1);
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
      authority = authority.substr(0, colon);
    }
    host_and_path = std::string(authority) + std::string(rest);
  } else {
    // scp-like: [user@]host:path
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) return {};
    std::string_view host = rest.substr(0, colon);
    auto at = host.rfind('@');
    if (at != std::string_view::npos) host.remove_prefix(at + 1);
    std::string_view path = rest.substr(colon + 1);
    host_and_path = std::string(host) + "/" + std::string(path);
  }
  std::string key = Lower(host_and_path);
  while (key.ends_with('/')) key.pop_back();
  if (key.ends_with(".git")) key.resize(key.size() - 4);
  while (key.ends_with('/')) key.pop_back();
  // "host//path" and "host/path" alike
  std::string squeezed;
  for (char c : key) {
    if (c == '/' && !squeezed.empty() && squeezed.back() == '/') continue;
    squeezed.push_back(c);
  }
  return squeezed;
}

}  // namespace

bool SameRepository(std::string_view a, std::string_view b) {
  const std::string ka = RepositoryKey(a);
  return !ka.empty() && ka == RepositoryKey(b);
}

}  // namespace market
