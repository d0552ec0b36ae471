#include "harbor_client/fake_harbor.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>

#include "base64.hpp"
#include "registry_http.hpp"

namespace market::testing {

namespace {

using nlohmann::json;

constexpr const char* kApi = "/api/v2.0";
constexpr const char* kRobotPrefix = "robot$";  // config.RobotPrefix's default

// Go's url.QueryUnescape (plus_is_space) or url.PathUnescape: nullopt on a bad escape.
std::optional<std::string> Unescape(std::string_view text, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Go's url.ParseQuery, as go-swagger binds query parameters.
std::map<std::string, std::string> ParseQuery(std::string_view raw) {
  std::map<std::string, std::string> out;
  std::size_t i = 0;
  while (i <= raw.size()) {
    const auto amp = std::min(raw.find('&', i), raw.size());
    const std::string_view pair = raw.substr(i, amp - i);
    const auto eq = pair.find('=');
    auto key = Unescape(pair.substr(0, eq), true);
    auto value = Unescape(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (key && value && !key->empty() && !out.contains(*key)) out[*key] = *value;
    i = amp + 1;
  }
  return out;
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// lib/http/error.go SendError: {"errors":[{"code":..,"message":..}]}, JSON, the mapped status.
FakeResponse ErrorAnswer(int status, const std::string& code, const std::string& message) {
  json body = {{"errors", json::array({{{"code", code}, {"message", message}}})}};
  return FakeResponse{status, {{"Content-Type", "application/json; charset=utf-8"}}, body.dump()};
}

FakeResponse Json(const json& body, std::vector<std::pair<std::string, std::string>> headers = {},
                  int status = 200) {
  headers.emplace_back("Content-Type", "application/json");
  return FakeResponse{status, std::move(headers), body.dump()};
}

// One condition of lib/q/builder.go: "k=v" exact, "k=~v" substring (ORM __icontains, with
// orm.Escape, so '%' and '_' are literal).
struct Condition {
  std::string key;
  std::string value;
  bool fuzzy = false;
  bool range = false;  // "[min~max]", either end may be empty (parseRange)
  std::optional<std::int64_t> min;
  std::optional<std::int64_t> max;

  bool Matches(const std::string& text) const {
    if (!fuzzy) return text == value;
    return Lower(text).find(Lower(value)) != std::string::npos;
  }
  bool Matches(std::int64_t number) const {
    if (!range) return std::to_string(number) == value;
    return (!min || number >= *min) && (!max || number <= *max);
  }
};

// lib/q/builder.go parseKeywords: unescapes the (already URL-decoded) value once more, keeping it
// when that fails, splits on ',' and wants "key=value" with both parts non-empty.
std::optional<std::vector<Condition>> ParseQ(const std::string& raw) {
  std::vector<Condition> out;
  if (raw.empty()) return out;
  const std::string q = Unescape(raw, true).value_or(raw);
  std::size_t i = 0;
  while (i <= q.size()) {
    const auto comma = std::min(q.find(',', i), q.size());
    const std::string param = q.substr(i, comma - i);
    const auto eq = param.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == param.size()) return std::nullopt;
    Condition c;
    c.key = param.substr(0, eq);
    c.value = param.substr(eq + 1);
    if (c.value[0] == '~') {
      if (c.value.size() < 2) return std::nullopt;
      c.value = c.value.substr(1);
      c.fuzzy = true;
    } else if (c.value[0] == '[') {
      const auto tilde = c.value.find('~');
      if (c.value.back() != ']' || tilde == std::string::npos ||
          c.value.find('~', tilde + 1) != std::string::npos) {
        return std::nullopt;
      }
      const std::string low = c.value.substr(1, tilde - 1);
      const std::string high = c.value.substr(tilde + 1, c.value.size() - tilde - 2);
      if (low.empty() && high.empty()) return std::nullopt;
      c.range = true;
      if (!low.empty()) c.min = std::stoll(low);
      if (!high.empty()) c.max = std::stoll(high);
    } else if (c.value[0] == '\\') {  // escapeValue
      c.value = c.value.substr(1);
    }
    out.push_back(std::move(c));
    i = comma + 1;
  }
  return out;
}

FakeResponse BadQuery() {
  return ErrorAnswer(400, "BAD_REQUEST",
                     R"(the query string must contain "=" and the key/value cannot be empty)");
}

const Condition* Find(const std::vector<Condition>& conditions, const std::string& key) {
  for (const auto& c : conditions) {
    if (c.key == key) return &c;
  }
  return nullptr;
}

struct Paging {
  std::int64_t page = 1;
  std::int64_t size = 10;
};

Paging PageOf(const std::map<std::string, std::string>& query) {
  Paging p;
  if (query.contains("page")) p.page = std::max<std::int64_t>(1, std::stoll(query.at("page")));
  if (query.contains("page_size")) p.size = std::stoll(query.at("page_size"));
  return p;
}

// handler/base.go Links: rel="prev" and rel="next" with the request's own query.
std::string Links(const std::string& path, Paging p, std::int64_t total) {
  std::string out;
  auto link = [&](std::int64_t page, const char* rel) {
    if (!out.empty()) out += " , ";
    out += "<" + path + "?page=" + std::to_string(page) + "&page_size=" + std::to_string(p.size) +
           ">; rel=\"" + rel + "\"";
  };
  if (p.page > 1 && (p.page - 1) * p.size < total) link(p.page - 1, "prev");
  if (p.page * p.size < total) link(p.page + 1, "next");
  return out;
}

template <class T>
std::vector<T> PageItems(const std::vector<T>& all, Paging p) {
  std::vector<T> out;
  for (std::size_t i = static_cast<std::size_t>((p.page - 1) * p.size);
       i < all.size() && out.size() < static_cast<std::size_t>(p.size); ++i) {
    out.push_back(all[i]);
  }
  return out;
}

FakeResponse PagedAnswer(const json& items, const std::string& path, Paging p, std::int64_t total) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"X-Total-Count", std::to_string(total)},
      // beego's session cookie, which Harbor sets on API answers.
      {"Set-Cookie", "sid=0123456789abcdef; Path=/; HttpOnly"}};
  const std::string links = Links(path, p, total);
  if (!links.empty()) headers.emplace_back("Link", links);
  return Json(items, std::move(headers));
}

std::string PushTime(std::int64_t id) {
  char text[40];
  std::snprintf(text, sizeof text, "2024-03-01T00:%02lld:%02lld.000Z",
                static_cast<long long>(id / 60 % 60), static_cast<long long>(id % 60));
  return text;
}

}  // namespace

FakeHarbor::FakeHarbor() : server_([this](const RecordedRequest& r) { return Answer(r); }) {}

int FakeHarbor::Count(const std::string& prefix) const {
  int n = 0;
  for (const auto& r : server_.Requests()) {
    if ((r.method + " " + r.target).starts_with(prefix)) ++n;
  }
  return n;
}

void FakeHarbor::AddAccount(HarborAccount account) {
  std::lock_guard lock(mutex_);
  accounts_.push_back(std::move(account));
}

std::int64_t FakeHarbor::AddProject(const std::string& name, bool is_public,
                                    const std::string& creation_time) {
  std::lock_guard lock(mutex_);
  projects_.push_back({next_project_id_, name, is_public, creation_time});
  return next_project_id_++;
}

const HarborImage& FakeHarbor::Push(const std::string& repository,
                                    const std::vector<std::string>& tags,
                                    const std::string& created, std::int64_t layer_size) {
  std::lock_guard lock(mutex_);
  HarborImage image;
  image.id = next_artifact_id_++;
  image.config = json{
      {"architecture", "amd64"},
      {"os", "linux"},
      {"created", created},
      {"rootfs", {{"type", "layers"}}},
      {"seed",
       image.id}}.dump();
  const std::string layer_digest = harbor::Sha256Digest("layer " + std::to_string(image.id));
  image.manifest = json{{"schemaVersion", 2},
                        {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                        {"config",
                         {{"mediaType", "application/vnd.docker.container.image.v1+json"},
                          {"size", image.config.size()},
                          {"digest", harbor::Sha256Digest(image.config)}}},
                        {"layers",
                         {{{"mediaType", "application/vnd.docker.image.rootfs.diff.tar.gzip"},
                           {"size", layer_size},
                           {"digest", layer_digest}}}}}
                       .dump();
  image.digest = harbor::Sha256Digest(image.manifest);
  // controller/artifact/manifest/v2.go: len(manifest) + config.Size + every layer's Size.
  image.size = static_cast<std::int64_t>(image.manifest.size() + image.config.size()) + layer_size;
  image.created = created;
  image.push_time = PushTime(image.id);
  image.tags = tags;
  auto& artifacts = repositories_[repository];
  for (auto& other : artifacts) {  // a tag lives on one artifact: pushing moves it
    std::erase_if(other.tags, [&](const std::string& t) {
      return std::find(tags.begin(), tags.end(), t) != tags.end();
    });
  }
  artifacts.push_back(std::move(image));
  return artifacts.back();
}

void FakeHarbor::MakeImmutable(const std::string& repository, const std::string& tag) {
  std::lock_guard lock(mutex_);
  immutable_.insert(repository + ":" + tag);
}

void FakeHarbor::SetOidcMode(bool on) {
  std::lock_guard lock(mutex_);
  oidc_ = on;
}

void FakeHarbor::SetAdminOnlyProjectCreation(bool on) {
  std::lock_guard lock(mutex_);
  admin_only_creation_ = on;
}

void FakeHarbor::FailNext(const std::string& prefix, int count, FakeResponse response) {
  std::lock_guard lock(mutex_);
  failures_.push_back({prefix, {count, std::move(response)}});
}

void FakeHarbor::OnArtifactList(std::function<void(int call)> hook) {
  std::lock_guard lock(mutex_);
  on_artifact_list_ = std::move(hook);
}

void FakeHarbor::SetDelay(std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  delay_ = delay;
}

const FakeHarbor::Project* FakeHarbor::FindProject(const std::string& name) const {
  for (const auto& p : projects_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// server/middleware/security/security.go: the first generator that recognises the request wins
// (oidcCli, v2Token, robot, basicAuth here); none means an anonymous caller, not a 401.
FakeHarbor::Caller FakeHarbor::Identify(const RecordedRequest& request,
                                        const std::string& path) const {
  const std::string auth = request.Header("authorization");
  if (auth.starts_with("Bearer ")) {  // v2_token.go: the token's subject
    auto token = tokens_.find(auth.substr(7));
    return Caller{token == tokens_.end() ? nullptr : token->second};
  }
  if (!auth.starts_with("Basic ")) return {};
  const std::string decoded = market::Base64Decode(auth.substr(6)).value_or("");
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return {};
  const std::string name = decoded.substr(0, colon);
  const std::string secret = decoded.substr(colon + 1);
  auto account = std::find_if(accounts_.begin(), accounts_.end(),
                              [&](const HarborAccount& a) { return a.name == name; });
  if (account == accounts_.end() || account->secret != secret) return {};
  using Kind = HarborAccount::Kind;
  if (name.starts_with(kRobotPrefix)) {  // robot.go
    return (account->kind == Kind::kSystemRobot || account->kind == Kind::kProjectRobot)
               ? Caller{&*account}
               : Caller{};
  }
  if (account->kind == Kind::kOidcUser) {
    // oidc_cli.go valid(): the CLI secret counts only on these paths.
    const std::string& m = request.method;
    const std::string p = path.ends_with("/") ? path.substr(0, path.size() - 1) : path;
    const std::string projects = std::string(kApi) + "/projects";
    auto matches = [&](const char* pattern) {
      return std::regex_match(p, std::regex(std::string("^") + kApi + pattern));
    };
    const bool valid =
        p == "/service/token" || p.starts_with("/v2") || (m == "POST" && p == projects) ||
        (m == "GET" && (p == projects || p == std::string(kApi) + "/systeminfo" ||
                        matches("/projects/.*/repositories$") ||
                        matches("/projects/.*/repositories/.*/artifacts$"))) ||
        (m == "DELETE" && matches("/projects/.*/repositories/.*/artifacts/.*/tags/.*$"));
    return oidc_ && valid ? Caller{&*account} : Caller{};
  }
  // basic_auth.go through core/auth: in OIDC mode only the admin signs in with a password.
  if (oidc_ && account->kind != Kind::kAdmin) return {};
  return Caller{&*account};
}

// The permission a caller holds on a project (nullptr: a missing project, which base.go checks
// as project id 0: only the system administrator, or a robot covering all projects, passes).
bool FakeHarbor::Can(const Caller& caller, const Project* project,
                     const std::string& action) const {
  const bool read = action == "read" || action == "list" || action == "pull";
  if (!caller.authenticated()) return project && project->is_public && read;
  using Kind = HarborAccount::Kind;
  switch (caller.account->kind) {
    case Kind::kAdmin:
    case Kind::kSystemRobot:
      return true;
    case Kind::kProjectRobot:
      return project && project->name == caller.account->project;
    case Kind::kUser:
    case Kind::kOidcUser:
      return project &&
             (caller.account->member_of.contains(project->name) || (project->is_public && read));
  }
  return false;
}

// handler/base.go RequireProjectAccess: no permission is 401 for an anonymous caller and 403
// for anyone signed in, whether or not the project exists.
std::optional<FakeResponse> FakeHarbor::RequireProjectAccess(const Caller& caller,
                                                             const std::string& project_name,
                                                             const std::string& action) const {
  if (Can(caller, FindProject(project_name), action)) return std::nullopt;
  if (!caller.authenticated()) return ErrorAnswer(401, "UNAUTHORIZED", "unauthorized");
  return ErrorAnswer(403, "FORBIDDEN", "forbidden");
}

// handler/project.go ListProjects: admins and robots covering all projects see all; users
// their projects and the public ones; project robots theirs and the public ones; anonymous
// callers the public ones.
bool FakeHarbor::Visible(const Caller& caller, const Project& project) const {
  if (project.is_public) return true;
  if (!caller.authenticated()) return false;
  using Kind = HarborAccount::Kind;
  switch (caller.account->kind) {
    case Kind::kAdmin:
    case Kind::kSystemRobot:
      return true;
    case Kind::kProjectRobot:
      return caller.account->project == project.name;
    case Kind::kUser:
    case Kind::kOidcUser:
      return caller.account->member_of.contains(project.name);
  }
  return false;
}

FakeResponse FakeHarbor::Answer(const RecordedRequest& request) {
  std::lock_guard lock(mutex_);
  const auto question = request.target.find('?');
  const std::string raw_path = request.target.substr(0, question);
  const auto query = ParseQuery(question == std::string::npos
                                    ? std::string_view()
                                    : std::string_view(request.target).substr(question + 1));
  FakeResponse answer;
  bool answered = false;
  for (auto& [prefix, failure] : failures_) {
    if (failure.first > 0 && (request.method + " " + request.target).starts_with(prefix)) {
      --failure.first;
      answer = failure.second;
      answered = true;
      break;
    }
  }
  if (!answered) {
    const std::string path = Unescape(raw_path, false).value_or(raw_path);
    const Caller caller = Identify(request, path);
    if (path.starts_with("/v2/")) {
      answer = AnswerV2(request, raw_path, caller);
    } else if (path == "/service/token") {
      answer = AnswerToken(query, caller);
    } else if (path.starts_with(std::string(kApi) + "/")) {
      answer = AnswerApi(request, raw_path, query, caller);
    } else {
      answer = ErrorAnswer(404, "NOT_FOUND", "no route for " + path);
    }
  }
  answer.delay = delay_;
  return answer;
}

FakeResponse FakeHarbor::AnswerApi(const RecordedRequest& request, const std::string& raw_path,
                                   const std::map<std::string, std::string>& query,
                                   const Caller& caller) {
  // Path segments after /api/v2.0; repository names arrive encoded twice (a%252Fb).
  std::vector<std::string> parts;
  for (std::size_t i = std::string(kApi).size() + 1; i <= raw_path.size();) {
    const auto slash = std::min(raw_path.find('/', i), raw_path.size());
    parts.push_back(raw_path.substr(i, slash - i));
    i = slash + 1;
  }
  auto decoded = [&](std::size_t i, int times) {
    std::string text = parts[i];
    for (int n = 0; n < times; ++n) text = Unescape(text, false).value_or(text);
    return text;
  };
  const std::string& method = request.method;
  const std::string route = parts.empty() ? "" : parts[0];

  if (route == "systeminfo" && parts.size() == 1 && method == "GET") {
    return Json(
        {{"auth_mode", oidc_ ? "oidc_auth" : "db_auth"},
         {"harbor_version", "v2.9.5-fake"},
         {"project_creation_restriction", admin_only_creation_ ? "adminonly" : "everyone"}});
  }
  if (route != "projects") return ErrorAnswer(404, "NOT_FOUND", "no route");

  if (parts.size() == 1 && method == "HEAD") {  // project.go HeadProject
    if (!caller.authenticated()) return FakeResponse{401, {}, ""};
    const auto name = query.contains("project_name") ? query.at("project_name") : "";
    return FakeResponse{FindProject(name) ? 200 : 404, {}, ""};
  }
  if (parts.size() == 1 && method == "GET") {  // project.go ListProjects
    auto conditions = ParseQ(query.contains("q") ? query.at("q") : "");
    if (!conditions) return BadQuery();
    std::vector<const Project*> matching;
    for (const auto& p : projects_) {
      const Condition* name = Find(*conditions, "name");
      const Condition* id = Find(*conditions, "project_id");
      if (name && !name->Matches(p.name)) continue;
      if (id && id->value != std::to_string(p.id)) continue;
      if (query.contains("name") && !Lower(p.name).contains(Lower(query.at("name")))) {
        continue;  // the name parameter: a substring, as q's name=~
      }
      if (!Visible(caller, p)) continue;
      matching.push_back(&p);
    }
    std::sort(matching.begin(), matching.end(),
              [](const Project* a, const Project* b) { return a->name < b->name; });
    const Paging paging = PageOf(query);
    json items = json::array();
    for (const Project* p : PageItems(matching, paging)) {
      std::int64_t repos = 0;
      for (const auto& [name, artifacts] : repositories_) repos += name.starts_with(p->name + "/");
      items.push_back({{"project_id", p->id},
                       {"name", p->name},
                       {"owner_id", 1},
                       {"creation_time", p->creation_time},
                       {"update_time", p->creation_time},
                       {"repo_count", repos},
                       {"metadata", {{"public", p->is_public ? "true" : "false"}}}});
    }
    return PagedAnswer(items, raw_path, paging, static_cast<std::int64_t>(matching.size()));
  }
  if (parts.size() == 1 && method == "POST") {  // project.go CreateProject
    if (!caller.authenticated()) return ErrorAnswer(401, "UNAUTHORIZED", "unauthorized");
    using Kind = HarborAccount::Kind;
    const Kind kind = caller.account->kind;
    if (kind == Kind::kProjectRobot) {
      return ErrorAnswer(403, "FORBIDDEN", "Only system level robot can create project");
    }
    const bool sys_admin =
        kind == Kind::kAdmin || (kind == Kind::kSystemRobot && caller.account->can_create_project);
    if (admin_only_creation_ && !sys_admin) {
      return ErrorAnswer(403, "FORBIDDEN", "Only system admin can create project");
    }
    auto body = json::parse(request.body, nullptr, false);
    const std::string name =
        body.is_object() && body.contains("project_name") && body["project_name"].is_string()
            ? body["project_name"].get<std::string>()
            : "";
    if (name.empty()) return ErrorAnswer(400, "BAD_REQUEST", "project_name in body is required");
    if (FindProject(name)) {
      return ErrorAnswer(409, "CONFLICT", "The project named " + name + " already exists");
    }
    const bool is_public = body.contains("metadata") && body["metadata"].is_object() &&
                           body["metadata"].value("public", "false") == "true";
    projects_.push_back({next_project_id_, name, is_public, "2024-06-01T00:00:00Z"});
    // The creating user becomes the project's admin (robots make the system admin the owner).
    for (auto& a : accounts_) {
      if (&a == caller.account && (kind == Kind::kUser || kind == Kind::kOidcUser)) {
        a.member_of.insert(name);
      }
    }
    return FakeResponse{
        201,
        {{"Location", std::string(kApi) + "/projects/" + std::to_string(next_project_id_++)}},
        ""};
  }
  const std::string project = parts.size() > 1 ? decoded(1, 1) : "";
  if (parts.size() == 3 && parts[2] == "repositories" && method == "GET") {
    // repository.go ListRepositories: access first, then the project (404 for an admin).
    if (auto denied = RequireProjectAccess(caller, project, "list")) return *denied;
    if (!FindProject(project))
      return ErrorAnswer(404, "NOT_FOUND", "project " + project + " not found");
    auto conditions = ParseQ(query.contains("q") ? query.at("q") : "");
    if (!conditions) return BadQuery();
    std::vector<std::string> names;
    for (const auto& [name, artifacts] : repositories_) {
      if (!name.starts_with(project + "/")) continue;
      if (const Condition* c = Find(*conditions, "name"); c && !c->Matches(name)) continue;
      names.push_back(name);
    }
    const Paging paging = PageOf(query);
    json items = json::array();
    for (const auto& name : PageItems(names, paging)) {
      items.push_back({{"name", name},
                       {"project_id", FindProject(project)->id},
                       {"artifact_count", repositories_.at(name).size()}});
    }
    return PagedAnswer(items, raw_path, paging, static_cast<std::int64_t>(names.size()));
  }
  if (parts.size() == 5 && parts[2] == "repositories" && parts[4] == "artifacts" &&
      method == "GET") {
    // artifact.go ListArtifacts: no lookup of the project or the repository, so a missing one
    // is an empty list (for whoever passes the access check).
    if (auto denied = RequireProjectAccess(caller, project, "list")) return *denied;
    auto conditions = ParseQ(query.contains("q") ? query.at("q") : "");
    if (!conditions) return BadQuery();
    const Paging paging = PageOf(query);
    ++artifact_lists_;
    if (on_artifact_list_) on_artifact_list_(artifact_lists_);
    const std::string repository = project + "/" + decoded(3, 2);
    std::vector<HarborImage> artifacts;
    if (auto it = repositories_.find(repository); it != repositories_.end()) {
      artifacts = it->second;
    }
    if (const Condition* tags = Find(*conditions, "tags"); tags && tags->value == "*") {
      std::erase_if(artifacts, [](const HarborImage& a) { return a.tags.empty(); });
    }
    if (const Condition* id = Find(*conditions, "id")) {
      std::erase_if(artifacts, [&](const HarborImage& a) { return !id->Matches(a.id); });
    }
    // pkg/artifact/dao/model.go GetDefaultSorts: push_time, then id, both descending; a sort
    // given by the caller replaces it (lib/orm/query.go setSorts).
    const std::string sort = query.contains("sort") ? query.at("sort") : "";
    std::sort(artifacts.begin(), artifacts.end(), [&](const HarborImage& a, const HarborImage& b) {
      if (sort == "id") return a.id < b.id;
      if (a.push_time != b.push_time) return a.push_time > b.push_time;
      return a.id > b.id;
    });
    json items = json::array();
    for (const auto& a : PageItems(artifacts, paging)) {
      json tags = nullptr;  // a Go nil slice
      if (query.contains("with_tag") && query.at("with_tag") == "true" && !a.tags.empty()) {
        tags = json::array();
        for (const auto& t : a.tags) {
          tags.push_back({{"name", t},
                          {"artifact_id", a.id},
                          {"push_time", a.push_time},
                          {"immutable", immutable_.contains(repository + ":" + t)}});
        }
      }
      json extra = {{"os", "linux"}};
      if (!a.created.empty()) extra["created"] = a.created;  // as given: Go keeps the offset
      items.push_back({{"id", a.id},
                       {"type", "IMAGE"},
                       {"digest", a.digest},
                       {"size", a.size},
                       {"push_time", a.push_time},
                       {"extra_attrs", extra},
                       {"tags", tags}});
    }
    return PagedAnswer(items, raw_path, paging, static_cast<std::int64_t>(artifacts.size()));
  }
  if (parts.size() == 6 && parts[2] == "repositories" && parts[4] == "artifacts" &&
      method == "DELETE") {
    // artifact.go DeleteArtifact: the artifact with all its tags; 412 when an immutable tag
    // is on it.
    if (auto denied = RequireProjectAccess(caller, project, "delete")) return *denied;
    const std::string repository = project + "/" + decoded(3, 2);
    const std::string reference = decoded(5, 1);
    auto it = repositories_.find(repository);
    if (it != repositories_.end()) {
      for (auto a = it->second.begin(); a != it->second.end(); ++a) {
        if (a->digest != reference &&
            std::find(a->tags.begin(), a->tags.end(), reference) == a->tags.end()) {
          continue;
        }
        for (const auto& tag : a->tags) {
          if (immutable_.contains(repository + ":" + tag)) {
            return ErrorAnswer(412, "PRECONDITION",
                               "the artifact has the immutable tag " + tag);
          }
        }
        it->second.erase(a);
        return FakeResponse{200, {}, ""};
      }
    }
    return ErrorAnswer(404, "NOT_FOUND", "artifact " + repository + ":" + reference + " not found");
  }
  if (parts.size() == 8 && parts[2] == "repositories" && parts[4] == "artifacts" &&
      parts[6] == "tags" && method == "DELETE") {
    // artifact.go DeleteTag, controller/tag/controller.go Delete (412 for an immutable tag).
    if (auto denied = RequireProjectAccess(caller, project, "delete")) return *denied;
    const std::string repository = project + "/" + decoded(3, 2);
    const std::string reference = decoded(5, 1);
    const std::string tag = decoded(7, 1);
    auto it = repositories_.find(repository);
    HarborImage* artifact = nullptr;
    if (it != repositories_.end()) {
      for (auto& a : it->second) {
        if (a.digest == reference ||
            std::find(a.tags.begin(), a.tags.end(), reference) != a.tags.end()) {
          artifact = &a;
        }
      }
    }
    if (!artifact) {
      return ErrorAnswer(404, "NOT_FOUND",
                         "artifact " + repository + ":" + reference + " not found");
    }
    auto at = std::find(artifact->tags.begin(), artifact->tags.end(), tag);
    if (at == artifact->tags.end()) {
      return ErrorAnswer(
          404, "NOT_FOUND",
          "tag " + tag + " attached to artifact " + std::to_string(artifact->id) + " not found");
    }
    if (immutable_.contains(repository + ":" + tag)) {
      return ErrorAnswer(412, "PRECONDITION",
                         "the tag " + tag + " configured as immutable, cannot be deleted");
    }
    artifact->tags.erase(at);
    return FakeResponse{200, {}, ""};
  }
  return ErrorAnswer(404, "NOT_FOUND", "no route");
}

// server/middleware/v2auth/auth.go: "/v2/" needs a signed-in caller; a repository first needs an
// Authorization header (GET and HEAD), then its project (an empty challenge when that fails),
// then the permission. The challenge is Basic when the request carried credentials.
FakeResponse FakeHarbor::AnswerV2(const RecordedRequest& request, const std::string& raw_path,
                                  const Caller& caller) {
  const bool has_auth = !request.Header("authorization").empty();
  auto challenge = [&](const std::string& scope) {
    if (has_auth) return std::string(R"(Basic realm="harbor")");
    std::string out = "Bearer realm=\"" + Url() + "/service/token\",service=\"harbor-registry\"";
    if (!scope.empty()) out += ",scope=\"" + scope + "\"";
    return out;
  };
  auto unauthorized = [&](const std::string& header, const std::string& message) {
    FakeResponse r = ErrorAnswer(401, "UNAUTHORIZED", message);
    r.headers.emplace_back("Docker-Distribution-Api-Version", "registry/2.0");
    r.headers.emplace_back("Www-Authenticate", header);
    return r;
  };
  if (raw_path == "/v2/") {
    if (!caller.authenticated()) return unauthorized(challenge(""), "unauthorized");
    return Json(json::object(), {{"Docker-Distribution-Api-Version", "registry/2.0"}});
  }
  std::string name;
  std::string kind;
  std::string reference;
  for (const char* k : {"/manifests/", "/blobs/"}) {
    const auto at = raw_path.find(k);
    if (at != std::string::npos) {
      name = raw_path.substr(4, at - 4);
      kind = k;
      reference = raw_path.substr(at + std::string(k).size());
    }
  }
  if (name.empty()) return ErrorAnswer(404, "NOT_FOUND", "no route");
  const std::string scope = "repository:" + name + ":pull";
  if (!has_auth && (request.method == "GET" || request.method == "HEAD")) {
    return unauthorized(challenge(scope), "authorize header needed to send HEAD to repository");
  }
  const std::string project_name = name.substr(0, name.find('/'));
  const Project* project = FindProject(project_name);
  if (!project) return unauthorized("", "project " + project_name + " not found");
  if (!Can(caller, project, "pull")) {
    return unauthorized(challenge(scope),
                        "unauthorized to access repository: " + name + ", action: pull");
  }
  auto it = repositories_.find(name);
  if (it != repositories_.end()) {
    for (const auto& a : it->second) {
      const bool tagged = std::find(a.tags.begin(), a.tags.end(), reference) != a.tags.end();
      if (kind == "/manifests/" && (a.digest == reference || tagged)) {
        FakeResponse r{200,
                       {{"Content-Type", "application/vnd.docker.distribution.manifest.v2+json"},
                        {"Docker-Content-Digest", a.digest}},
                       a.manifest};
        return r;
      }
      if (kind == "/blobs/" && harbor::Sha256Digest(a.config) == reference) {
        return FakeResponse{200, {{"Content-Type", "application/octet-stream"}}, a.config};
      }
    }
  }
  return kind == "/manifests/" ? ErrorAnswer(404, "MANIFEST_UNKNOWN", "manifest unknown")
                               : ErrorAnswer(404, "BLOB_UNKNOWN", "blob unknown to registry");
}

// core/service/token/token.go and creator.go: 401 for an anonymous caller asking for no scope;
// otherwise a token for whoever the caller is (anonymous included).
FakeResponse FakeHarbor::AnswerToken(const std::map<std::string, std::string>& query,
                                     const Caller& caller) {
  if (!query.contains("service") || query.at("service") != "harbor-registry") {
    return FakeResponse{400, {}, "Unable to handle service"};
  }
  if (!caller.authenticated() && !query.contains("scope")) return FakeResponse{401, {}, ""};
  const std::string token = "token-" + std::to_string(tokens_.size() + 1);
  tokens_[token] = caller.account;
  return Json({{"token", token}, {"expires_in", 1800}, {"issued_at", "2024-01-01T00:00:00Z"}});
}

}  // namespace market::testing
