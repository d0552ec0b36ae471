// Git hosts' push events: who signed them, what they say, and what a trigger builds of them.
// The payloads are the hosts' documented shapes, cut to the fields that matter.

#include "market/trigger_events.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "market/webhook_signature.hpp"

namespace market {
namespace {

using json = nlohmann::json;

const std::string kSha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
const TimePoint kNow = TimePoint(std::chrono::milliseconds(1790000000000));  // 2026-09-21

HookRequest GitHubPush(const std::string& secret, const std::string& ref,
                       const std::string& message = "fix the build") {
  json body = {{"ref", ref},
               {"before", "9049f1265b7d61be4a8904a9a27120d2064dab3b"},
               {"after", kSha},
               {"created", false},
               {"deleted", false},
               {"head_commit", {{"id", kSha}, {"message", message}}},
               {"repository",
                {{"full_name", "octo/web"},
                 {"clone_url", "https://github.com/octo/web.git"},
                 {"ssh_url", "git@github.com:octo/web.git"},
                 {"html_url", "https://github.com/octo/web"},
                 {"default_branch", "main"}}}};
  HookRequest request;
  request.body = body.dump();
  request.headers = {{"x-github-event", "push"},
                     {"x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
                     {"x-hub-signature-256", "sha256=" + HmacSha256Hex(secret, request.body)}};
  return request;
}

HookRequest GitLabPush(const std::string& token, const std::string& ref, bool tag = false) {
  json body = {{"object_kind", tag ? "tag_push" : "push"},
               {"ref", ref},
               {"before", "95790bf891e76fee5e1747ab589903a6a1f80f22"},
               {"after", kSha},
               {"checkout_sha", kSha},
               {"project",
                {{"git_http_url", "https://gitlab.example.com/team/web.git"},
                 {"git_ssh_url", "git@gitlab.example.com:team/web.git"},
                 {"web_url", "https://gitlab.example.com/team/web"},
                 {"default_branch", "main"}}},
               {"commits", json::array({{{"id", kSha}, {"message", "Update README"}}})}};
  HookRequest request;
  request.body = body.dump();
  request.headers = {{"x-gitlab-event", tag ? "Tag Push Hook" : "Push Hook"},
                     {"x-gitlab-token", token},
                     {"x-gitlab-event-uuid", "13792a34-cac6-4fda-95a8-c58e00a3954e"}};
  return request;
}

HookRequest GiteaPush(const std::string& secret, const std::string& ref) {
  json body = {{"ref", ref},
               {"before", "28e1879d029cb852e4844d9c718537df08844e03"},
               {"after", kSha},
               {"head_commit", {{"id", kSha}, {"message", "first"}}},
               {"repository",
                {{"clone_url", "http://gitea.test:3000/team/web.git"},
                 {"ssh_url", "git@gitea.test:team/web.git"},
                 {"default_branch", "trunk"}}}};
  HookRequest request;
  request.body = body.dump();
  // Gitea sends GitHub's event header too: its own decides.
  request.headers = {{"x-gitea-event", "push"},
                     {"x-github-event", "push"},
                     {"x-gitea-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
                     {"x-gitea-signature", HmacSha256Hex(secret, request.body)}};
  return request;
}

BuildTriggerRule Rule() {
  BuildTriggerRule rule;
  rule.id = 3;
  rule.project = "web";
  rule.name = "on-push";
  rule.secret = "s3cret";
  return rule;
}

}  // namespace

TEST_CASE("GitHub's published signature example verifies", "[triggers]") {
  HookRequest request;
  request.body = "Hello, World!";
  request.headers = {
      {"x-github-event", "push"},
      {"x-hub-signature-256",
       "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}};
  CHECK(VerifyHookRequest(request, "It's a Secret to Everybody"));
  auto wrong = VerifyHookRequest(request, "It's a Secret to Everybody!");
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == Errc::kUnauthorized);
  CHECK_THAT(wrong.error().message, Catch::Contains("X-Hub-Signature-256"));
}

TEST_CASE("Each host's signature or token is checked and a missing one refused", "[triggers]") {
  CHECK(VerifyHookRequest(GitHubPush("s3cret", "refs/heads/main"), "s3cret"));
  CHECK_FALSE(VerifyHookRequest(GitHubPush("other", "refs/heads/main"), "s3cret"));
  CHECK(VerifyHookRequest(GitLabPush("s3cret", "refs/heads/main"), "s3cret"));
  CHECK_FALSE(VerifyHookRequest(GitLabPush("s3cre", "refs/heads/main"), "s3cret"));
  CHECK(VerifyHookRequest(GiteaPush("s3cret", "refs/heads/main"), "s3cret"));
  CHECK_FALSE(VerifyHookRequest(GiteaPush("nope", "refs/heads/main"), "s3cret"));

  HookRequest generic;
  generic.body = R"({"ref": "refs/heads/main", "sha": ")" + kSha + R"("})";
  CHECK_FALSE(VerifyHookRequest(generic, "s3cret"));  // no Authorization at all
  generic.headers["authorization"] = "Bearer s3cret";
  CHECK(VerifyHookRequest(generic, "s3cret"));
  generic.headers["authorization"] = "Bearer s3cretX";
  CHECK_FALSE(VerifyHookRequest(generic, "s3cret"));
  generic.headers["authorization"] = "Basic s3cret";
  CHECK_FALSE(VerifyHookRequest(generic, "s3cret"));

  // A body changed after signing is refused even though the header is well-formed.
  HookRequest tampered = GitHubPush("s3cret", "refs/heads/main");
  tampered.body.back() = ' ';
  CHECK_FALSE(VerifyHookRequest(tampered, "s3cret"));
  // A trigger without a secret verifies nothing.
  CHECK_FALSE(VerifyHookRequest(GitHubPush("", "refs/heads/main"), ""));
}

TEST_CASE("Push events of the three hosts and the generic body read alike", "[triggers]") {
  auto github = ReadPushEvent(GitHubPush("s", "refs/heads/main"));
  REQUIRE(github);
  CHECK(github->host == GitHost::kGitHub);
  CHECK(github->event == "push");
  CHECK(github->ref == "refs/heads/main");
  CHECK(github->sha == kSha);
  CHECK(github->delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  CHECK(github->default_branch == "main");
  CHECK(github->message == "fix the build");
  CHECK(github->repository_urls.size() == 3);

  auto gitlab = ReadPushEvent(GitLabPush("s", "refs/tags/v1.2", true));
  REQUIRE(gitlab);
  CHECK(gitlab->host == GitHost::kGitLab);
  CHECK(gitlab->event == "push");
  CHECK(gitlab->ref == "refs/tags/v1.2");
  CHECK(gitlab->message == "Update README");
  CHECK(gitlab->delivery_id == "13792a34-cac6-4fda-95a8-c58e00a3954e");

  auto gitea = ReadPushEvent(GiteaPush("s", "refs/heads/trunk"));
  REQUIRE(gitea);
  CHECK(gitea->host == GitHost::kGitea);
  CHECK(gitea->default_branch == "trunk");
  CHECK(gitea->delivery_id == "f6266f16-1bf3-46a5-9ea4-602e06ead473");

  HookRequest generic;
  generic.headers["authorization"] = "Bearer s";
  generic.body = json{{"ref", "refs/heads/main"}, {"sha", kSha}, {"deliveryId", "ci-7"}}.dump();
  auto plain = ReadPushEvent(generic);
  REQUIRE(plain);
  CHECK(plain->host == GitHost::kGeneric);
  CHECK(plain->delivery_id == "ci-7");
  CHECK(plain->repository_urls.empty());
}

TEST_CASE("Malformed push events are 10006 naming what is wrong", "[triggers]") {
  HookRequest request;
  request.headers["authorization"] = "Bearer s";
  request.body = "[[[[";
  CHECK(ReadPushEvent(request).error().code == Errc::kInvalid);
  request.body = R"({"ref": "main", "sha": ")" + kSha + R"("})";
  CHECK_THAT(ReadPushEvent(request).error().message, Catch::Contains("ref"));
  request.body = R"({"ref": "refs/heads/main", "sha": "abc"})";
  CHECK_THAT(ReadPushEvent(request).error().message, Catch::Contains("sha"));
  request.body = R"({"ref": "refs/heads/)" + std::string(300, 'a') + R"(", "sha": ")" + kSha +
                 R"("})";
  CHECK_THAT(ReadPushEvent(request).error().message, Catch::Contains("longer"));
  // Nesting deep enough to exhaust a stack is refused while parsing.
  request.body = std::string(100000, '[');
  CHECK_THAT(ReadPushEvent(request).error().message, Catch::Contains("nesting"));
}

TEST_CASE("A ping, a deletion and [skip build] build nothing", "[triggers]") {
  HookRequest ping;
  ping.headers = {{"x-github-event", "ping"}};
  ping.body = R"({"zen": "Design for failure."})";
  auto event = ReadPushEvent(ping);
  REQUIRE(event);
  CHECK_THAT(PlanTriggeredBuild(Rule(), *event, kNow).skipped, Catch::Contains("ping"));

  HookRequest deletion = GitHubPush("s", "refs/heads/main");
  json body = json::parse(deletion.body);
  body["deleted"] = true;
  body["after"] = std::string(40, '0');
  deletion.body = body.dump();
  auto deleted = ReadPushEvent(deletion);
  REQUIRE(deleted);
  CHECK_THAT(PlanTriggeredBuild(Rule(), *deleted, kNow).skipped, Catch::Contains("deleted"));

  auto skip = ReadPushEvent(GitHubPush("s", "refs/heads/main", "docs only [Skip Build]"));
  REQUIRE(skip);
  CHECK_THAT(PlanTriggeredBuild(Rule(), *skip, kNow).skipped, Catch::Contains("[skip build]"));

  HookRequest issue;
  issue.headers = {{"x-github-event", "issues"}};
  auto other = ReadPushEvent(issue);
  REQUIRE(other);
  CHECK_THAT(PlanTriggeredBuild(Rule(), *other, kNow).skipped, Catch::Contains("issues"));
}

TEST_CASE("The ref rule: the default branch unless branches or tags say more", "[triggers]") {
  BuildTriggerRule rule = Rule();
  auto main = *ReadPushEvent(GitHubPush("s", "refs/heads/main"));
  auto feature = *ReadPushEvent(GitHubPush("s", "refs/heads/feature/login"));
  auto tag = *ReadPushEvent(GitHubPush("s", "refs/tags/v1.2.0"));

  TriggerPlan plan = PlanTriggeredBuild(rule, main, kNow);
  CHECK(plan.skipped.empty());
  CHECK(plan.tags == std::vector<std::string>{"0d1a26e", "latest"});
  CHECK_THAT(PlanTriggeredBuild(rule, feature, kNow).skipped,
             Catch::Contains("not the default branch main"));
  CHECK_THAT(PlanTriggeredBuild(rule, tag, kNow).skipped, Catch::Contains("no tags rule"));

  rule.branches = "feature/.*";  // anchored: "main" no longer matches
  rule.tags = R"(v\d+\.\d+\.\d+)";
  rule.tag_templates = {"${branch}-${short_sha}", "${tag}", "build-${timestamp}"};
  rule.latest = false;
  CHECK_FALSE(PlanTriggeredBuild(rule, main, kNow).skipped.empty());
  plan = PlanTriggeredBuild(rule, feature, kNow);
  REQUIRE(plan.skipped.empty());
  // "/" cannot be in a tag; ${tag} has no value on a branch push: that template is skipped.
  CHECK(plan.tags == std::vector<std::string>{"feature-login-0d1a26e", "build-20260921141320"});
  plan = PlanTriggeredBuild(rule, tag, kNow);
  REQUIRE(plan.skipped.empty());
  CHECK(plan.tags == std::vector<std::string>{"v1.2.0", "build-20260921141320"});

  // The trigger's own default branch wins over the event's.
  rule = Rule();
  rule.default_branch = "release";
  CHECK_THAT(PlanTriggeredBuild(rule, main, kNow).skipped, Catch::Contains("release"));
}

TEST_CASE("A rule that backtracks exponentially matches in linear time, back-references refused",
          "[triggers]") {
  // With a backtracking matcher, (a*)*b against 250 a's does not finish in any lifetime: this
  // test would hang until ctest's timeout.
  BuildTriggerRule rule = Rule();
  rule.branches = "(a*)*b";
  REQUIRE(ValidateTriggerRule(rule));
  auto long_ref = *ReadPushEvent(GitHubPush("s", "refs/heads/" + std::string(244, 'a')));
  CHECK_THAT(PlanTriggeredBuild(rule, long_ref, kNow).skipped, Catch::Contains("branches"));
  rule.branches = "(x+x+)+y|a+";
  CHECK(PlanTriggeredBuild(rule, long_ref, kNow).skipped.empty());
  rule.branches = R"((a)\1)";
  CHECK_THAT(ValidateTriggerRule(rule).error().message, Catch::Contains("branches"));
}

TEST_CASE("Templates whose values are all missing fall back to the short sha", "[triggers]") {
  BuildTriggerRule rule = Rule();
  rule.tag_templates = {"${tag}"};
  rule.latest = false;
  auto main = *ReadPushEvent(GitHubPush("s", "refs/heads/main"));
  CHECK(PlanTriggeredBuild(rule, main, kNow).tags == std::vector<std::string>{"0d1a26e"});
  // A manual start without a commit: the time names the build.
  CHECK(TriggeredTags(rule, "refs/heads/main", "", "main", kNow) ==
        std::vector<std::string>{"20260921141320"});
}

TEST_CASE("Trigger rules are checked before they are stored", "[triggers]") {
  BuildTriggerRule rule = Rule();
  CHECK(ValidateTriggerRule(rule));
  rule.branches = "(unclosed";
  CHECK_THAT(ValidateTriggerRule(rule).error().message, Catch::Contains("branches"));
  rule = Rule();
  rule.tags = std::string(300, 'a');
  CHECK_THAT(ValidateTriggerRule(rule).error().message, Catch::Contains("tags"));
  rule = Rule();
  rule.tag_templates = {"${commit}"};
  CHECK_THAT(ValidateTriggerRule(rule).error().message, Catch::Contains("unknown variable"));
  rule.tag_templates = {"has space-${sha}"};
  CHECK_THAT(ValidateTriggerRule(rule).error().message, Catch::Contains("valid tag"));
  rule.tag_templates = {"${sha"};
  CHECK_FALSE(ValidateTriggerRule(rule));
  rule.tag_templates = std::vector<std::string>(9, "${sha}");
  CHECK_THAT(ValidateTriggerRule(rule).error().message, Catch::Contains("more than 8"));
  rule = Rule();
  rule.default_branch = "bad\nbranch";
  CHECK_THAT(ValidateTriggerRule(rule).error().message, Catch::Contains("defaultBranch"));
}

TEST_CASE("Repository URLs match across schemes, users, ports and .git", "[triggers]") {
  CHECK(SameRepository("https://github.com/octo/web.git", "git@github.com:octo/web.git"));
  CHECK(SameRepository("https://user@GitHub.com/Octo/Web", "ssh://git@github.com:22/octo/web.git"));
  CHECK(SameRepository("git://127.0.0.1:9418/repo.git", "http://127.0.0.1:8080/repo"));
  CHECK(SameRepository("https://github.com/octo/web/", "https://github.com/octo/web.git"));
  CHECK_FALSE(SameRepository("https://github.com/octo/web", "https://github.com/octo/web2"));
  CHECK_FALSE(SameRepository("https://github.com/octo/web", "https://gitlab.com/octo/web"));
  CHECK_FALSE(SameRepository("", ""));
}

}  // namespace market
