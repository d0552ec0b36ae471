// HarborRegistry against an in-test server answering with the shapes of Harbor's API v2.0.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "base64.hpp"
#include "harbor_client/fake_http_server.hpp"
#include "market/harbor_client/registry_factory.hpp"
#include "registry_http.hpp"

namespace market::harbor {
namespace {

using nlohmann::json;
using testing::FakeHttpServer;
using testing::FakeResponse;
using testing::RecordedRequest;

constexpr const char* kPassword = "Sup3r-secret";

RegistryPtr Harbor(const FakeHttpServer& server, int retries = 2,
                   std::string password = kPassword) {
  RegistryConfig config;
  config.url = server.Url();
  config.kind = RegistryKind::kHarbor;
  config.insecure = true;
  config.credentials = {"admin", std::move(password)};
  config.connect_timeout = std::chrono::milliseconds(1000);
  config.request_timeout = std::chrono::milliseconds(1000);
  config.max_retries = retries;
  auto registry = MakeRegistry(config);
  REQUIRE(registry);
  return std::move(*registry);
}

FakeResponse Json(const json& body, std::vector<std::pair<std::string, std::string>> headers = {},
                  int status = 200) {
  headers.emplace_back("Content-Type", "application/json");
  return FakeResponse{status, std::move(headers), body.dump()};
}

FakeResponse HarborError(int status, const std::string& code, const std::string& message) {
  return Json({{"errors", {{{"code", code}, {"message", message}}}}}, {}, status);
}

const std::string kBasic = "Basic " + Base64Encode(std::string("admin:") + kPassword);

TEST_CASE("Harbor: projects page with X-Total-Count, name filter, basic auth, no cookies",
          "[harbor]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return Json(json::array({{{"project_id", 3},
                              {"name", "base"},
                              {"owner_id", 1},
                              {"creation_time", "2017-07-26T08:37:13Z"},
                              {"update_time", "2023-01-02T03:04:05.123456Z"},
                              {"repo_count", 4},
                              {"metadata", {{"public", "true"}}}},
                             {{"project_id", 9}, {"name", "baseline"}, {"repo_count", 0}}}),
                {{"X-Total-Count", "12"},
                 {"Link", R"(</api/v2.0/projects?page=1&page_size=2>; rel="prev" , )"
                          R"(</api/v2.0/projects?page=3&page_size=2>; rel="next")"},
                 {"Set-Cookie", "sid=abc; Path=/"}});
  });
  auto registry = Harbor(server);
  auto page = registry->ListProjects("base", {2, 2});
  REQUIRE(page);
  CHECK(page->total_count == 12);
  REQUIRE(page->items.size() == 2);
  const auto& p = page->items[0];
  CHECK(p.project_id == 3);
  CHECK(p.name == "base");
  CHECK(p.owner_id == 1);
  CHECK(p.repo_count == 4);
  CHECK(p.is_public);
  REQUIRE(p.creation_time);
  CHECK(FormatIso8601(*p.creation_time) == "2017-07-26T08:37:13.000Z");
  REQUIRE(p.update_time);
  CHECK(FormatIso8601(*p.update_time) == "2023-01-02T03:04:05.123Z");
  CHECK_FALSE(page->items[1].is_public);

  REQUIRE(registry->ListProjects("", {1, 100}));
  auto requests = server.Requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].target == "/api/v2.0/projects?page=2&page_size=2&sort=name&name=base");
  CHECK(requests[1].target == "/api/v2.0/projects?page=1&page_size=100&sort=name");
  for (const auto& r : requests) {
    CHECK(r.Header("authorization") == kBasic);
    CHECK(r.Header("cookie").empty());
  }
  CHECK(registry->ListProjects("", {1, 101}).error().code == Errc::kInvalid);
}

TEST_CASE("Harbor: without X-Total-Count the Link header tells there is more", "[harbor]") {
  FakeHttpServer server([](const RecordedRequest&) {
    return Json(json::array({{{"project_id", 1}, {"name", "a"}}}),
                {{"Link", R"(</api/v2.0/projects?page=2&page_size=1>; rel="next")"}});
  });
  auto page = Harbor(server)->ListProjects("", {1, 1});
  REQUIRE(page);
  CHECK(page->total_count == 2);
}

TEST_CASE("Harbor: repositories of a project id with q=name=~", "[harbor]") {
  FakeHttpServer server([](const RecordedRequest& r) {
    if (r.target == "/api/v2.0/projects/7") return Json({{"project_id", 7}, {"name", "team"}});
    if (r.target.starts_with("/api/v2.0/projects/team/repositories")) {
      return Json(json::array({{{"id", 1}, {"name", "team/web"}, {"project_id", 7}},
                               {{"id", 2}, {"name", "team/web/api"}, {"project_id", 7}}}),
                  {{"X-Total-Count", "2"}});
    }
    return HarborError(404, "NOT_FOUND", "project 8 not found");
  });
  auto registry = Harbor(server);
  auto repos = registry->ListRepositories(7, "web", {1, 10});
  REQUIRE(repos);
  CHECK(repos->total_count == 2);
  REQUIRE(repos->items.size() == 2);
  CHECK(repos->items[1].name == "team/web/api");
  auto requests = server.Requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].Header("x-is-resource-name") == "false");
  CHECK(requests[1].target ==
        "/api/v2.0/projects/team/repositories?page=1&page_size=10&sort=name&q=name%3D~web");

  auto missing = registry->ListRepositories(8, "", {1, 10});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(missing.error().message == "registry: project id 8 not found");
}

TEST_CASE("Harbor: tags through artifacts, all pages, repository encoded twice", "[harbor]") {
  const std::string path = "/api/v2.0/projects/team/repositories/a%252Fb/artifacts";
  FakeHttpServer server([&](const RecordedRequest& r) {
    if (r.target == path + "?with_tag=true&q=tags%3D%2A&page_size=100&page=1") {
      return Json(
          json::array({{{"digest", "sha256:1111"},
                        {"size", 100},
                        {"extra_attrs", {{"created", "2024-02-03T04:05:06Z"}}},
                        {"tags",
                         {{{"name", "v2"}, {"push_time", "2024-03-01T00:00:00Z"}},
                          {{"name", "latest"}, {"push_time", "2024-03-01T00:00:00Z"}}}}},
                       {{"digest", "sha256:2222"},
                        {"size", 50},
                        {"tags", {{{"name", "v1"}, {"push_time", "2023-01-01T00:00:00Z"}}}}}}),
          {{"X-Total-Count", "3"},
           {"Link",
            "</api/v2.0/projects/team/repositories/a%2Fb/artifacts?page=2>; rel=\"next\""}});
    }
    if (r.target == path + "?with_tag=true&q=tags%3D%2A&page_size=100&page=2") {
      return Json(json::array({{{"digest", "sha256:3333"}, {"size", 7}, {"tags", nullptr}}}),
                  {{"X-Total-Count", "3"}});
    }
    return HarborError(404, "NOT_FOUND", "repository not found");
  });
  auto registry = Harbor(server);
  auto tags = registry->ListTags("team/a/b", {1, 2});
  REQUIRE(tags);
  CHECK(tags->total_count == 3);
  REQUIRE(tags->items.size() == 2);
  CHECK(tags->items[0].name == "latest");
  CHECK(tags->items[0].digest == "sha256:1111");
  CHECK(tags->items[0].size == 100);
  REQUIRE(tags->items[0].created);
  CHECK(FormatIso8601(*tags->items[0].created) == "2024-02-03T04:05:06.000Z");
  CHECK(tags->items[1].name == "v1");
  REQUIRE(tags->items[1].created);
  CHECK(FormatIso8601(*tags->items[1].created) == "2023-01-01T00:00:00.000Z");
  CHECK(server.Requests().size() == 2);

  auto missing = registry->ListTags("team/none", {1, 10});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::kNotFound);
  CHECK(missing.error().message.find("team/none") != std::string::npos);
  CHECK(registry->ListTags("noproject", {1, 10}).error().code == Errc::kInvalid);
}

TEST_CASE("Harbor: delete one tag, not the artifact; 404, 403, 412", "[harbor]") {
  FakeHttpServer server([](const RecordedRequest& r) {
    if (r.method != "DELETE") return HarborError(405, "METHOD_NOT_ALLOWED", "no");
    if (r.target.ends_with("/artifacts/v1/tags/v1")) return FakeResponse{200, {}, ""};
    if (r.target.ends_with("/artifacts/gone/tags/gone")) {
      return HarborError(404, "NOT_FOUND", "tag gone not found");
    }
    if (r.target.ends_with("/artifacts/locked/tags/locked")) {
      return HarborError(412, "PRECONDITION", "the tag is immutable");
    }
    return HarborError(403, "FORBIDDEN", "forbidden");
  });
  auto registry = Harbor(server);
  REQUIRE(registry->DeleteTag("team/a/b", "v1", false));
  CHECK(server.Requests().back().target ==
        "/api/v2.0/projects/team/repositories/a%252Fb/artifacts/v1/tags/v1");

  auto gone = registry->DeleteTag("team/app", "gone", false);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == Errc::kNotFound);
  CHECK(gone.error().message == "registry: tag gone of repository team/app not found");

  auto forbidden = registry->DeleteTag("team/app", "other", true);
  REQUIRE_FALSE(forbidden);
  CHECK(forbidden.error().code == Errc::kUpstreamFailed);
  CHECK(forbidden.error().message.find("forbidden (403)") != std::string::npos);

  auto locked = registry->DeleteTag("team/app", "locked", false);
  REQUIRE_FALSE(locked);
  CHECK(locked.error().code == Errc::kRegistryUnsupported);
  CHECK(locked.error().message.find("immutable") != std::string::npos);
}

TEST_CASE("Harbor: EnsureProject checks, creates, and takes 409 as success", "[harbor]") {
  int post_status = 201;
  bool exists = false;
  FakeHttpServer server([&](const RecordedRequest& r) {
    if (r.method == "HEAD" && r.target == "/api/v2.0/projects?project_name=newproj") {
      return FakeResponse{exists ? 200 : 404, {}, ""};
    }
    if (r.method == "POST" && r.target == "/api/v2.0/projects") {
      return post_status == 201 ? FakeResponse{201, {{"Location", "/api/v2.0/projects/5"}}, ""}
                                : HarborError(post_status, "CONFLICT", "project exists");
    }
    return HarborError(400, "BAD_REQUEST", "unexpected " + r.method + " " + r.target);
  });
  auto registry = Harbor(server);
  REQUIRE(registry->EnsureProject("newproj"));
  auto requests = server.Requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].method == "HEAD");
  CHECK(requests[1].method == "POST");
  auto body = json::parse(requests[1].body);
  CHECK(body["project_name"] == "newproj");
  CHECK(requests[1].Header("content-type") == "application/json");

  post_status = 409;
  REQUIRE(registry->EnsureProject("newproj"));
  CHECK(server.Requests().size() == 4);

  exists = true;
  REQUIRE(registry->EnsureProject("newproj"));
  CHECK(server.Requests().size() == 5);

  CHECK(registry->EnsureProject("a/b").error().code == Errc::kInvalid);
}

TEST_CASE("Harbor: /v2/ manifests through the bearer token flow, tokens cached", "[harbor]") {
  std::string url;
  const std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",)"
      R"("config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":12,)"
      R"("digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"},"layers":[]})";
  FakeHttpServer server([&](const RecordedRequest& r) {
    if (r.target.starts_with("/service/token")) {
      if (r.Header("authorization") != kBasic) return FakeResponse{401, {}, ""};
      return Json({{"token", "tok-1"}, {"expires_in", 1800}});
    }
    if (r.Header("authorization") != "Bearer tok-1") {
      return FakeResponse{401,
                          {{"WWW-Authenticate", "Bearer realm=\"" + url +
                                                    "/service/token\",service=\"harbor-registry\","
                                                    "scope=\"repository:team/app:pull\""}},
                          R"({"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]})"};
    }
    if (r.target == "/v2/team/app/manifests/v1") {
      return FakeResponse{200,
                          {{"Content-Type", "application/vnd.docker.distribution.manifest.v2+json"},
                           {"Docker-Content-Digest", "sha256:dddd"}},
                          manifest};
    }
    if (r.target.starts_with("/v2/team/app/blobs/sha256:cccc")) {
      return FakeResponse{200, {}, R"({"os":"linux"})"};
    }
    return HarborError(404, "NOT_FOUND", "no such thing");
  });
  url = server.Url();
  auto registry = Harbor(server);
  auto first = registry->GetManifest("team/app", "v1");
  REQUIRE(first);
  CHECK(first->manifest_json == manifest);
  CHECK(first->digest == "sha256:dddd");
  CHECK(first->media_type == "application/vnd.docker.distribution.manifest.v2+json");
  CHECK(first->config_json == R"({"os":"linux"})");
  auto second = registry->GetManifest("team/app", "v1");
  REQUIRE(second);

  int token_requests = 0;
  for (const auto& r : server.Requests()) {
    if (r.target.starts_with("/service/token")) {
      ++token_requests;
      CHECK(r.target ==
            "/service/token?service=harbor-registry&scope=repository%3Ateam%2Fapp%3Apull");
    }
  }
  CHECK(token_requests == 1);
  auto requests = server.Requests();
  REQUIRE(requests.size() >= 4);
  CHECK(requests[0].Header("authorization") == kBasic);              // first try: basic
  CHECK(requests[2].Header("authorization") == "Bearer tok-1");      // the one retry
  CHECK(requests.back().Header("authorization") == "Bearer tok-1");  // cached afterwards
  CHECK(requests.size() == 6);  // 401, token, manifest, blob; then manifest, blob
}

TEST_CASE("Harbor: rejected credentials are an upstream failure without the password", "[harbor]") {
  FakeHttpServer server([](const RecordedRequest&) {
    FakeResponse r = HarborError(401, "UNAUTHORIZED", "unauthorized");
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"harbor\"");
    return r;
  });
  auto registry = Harbor(server, 2, "wrong-Password-123");
  auto result = registry->ListProjects("", {1, 10});
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::kUpstreamFailed);
  CHECK(result.error().message.find("registry rejected the credentials (401)") !=
        std::string::npos);
  CHECK(result.error().message.find("wrong-Password-123") == std::string::npos);
  CHECK(server.Requests().size() == 1);  // a 401 is not retried
  CHECK(registry->Ping().error().code == Errc::kUpstreamFailed);
}

TEST_CASE("Harbor: 5xx retried for GET with backoff, never for POST", "[harbor]") {
  int failures_left = 2;
  FakeHttpServer server([&](const RecordedRequest& r) {
    if (r.method == "HEAD") return FakeResponse{404, {}, ""};
    if (failures_left > 0) {
      --failures_left;
      return HarborError(503, "SERVICE_UNAVAILABLE", "core is restarting");
    }
    return Json(json::array(), {{"X-Total-Count", "0"}});
  });
  auto registry = Harbor(server, 2);
  auto ok = registry->ListProjects("", {1, 10});
  REQUIRE(ok);
  CHECK(ok->total_count == 0);
  CHECK(server.Requests().size() == 3);

  failures_left = 100;
  auto exhausted = registry->ListProjects("", {1, 10});
  REQUIRE_FALSE(exhausted);
  CHECK(exhausted.error().code == Errc::kUpstreamFailed);
  CHECK(exhausted.error().message ==
        "registry: listing projects failed: HTTP 503: SERVICE_UNAVAILABLE core is restarting");
  CHECK(server.Requests().size() == 6);

  auto create = registry->EnsureProject("p");
  REQUIRE_FALSE(create);
  CHECK(create.error().message.find("HTTP 503") != std::string::npos);
  auto requests = server.Requests();
  CHECK(std::count_if(requests.begin(), requests.end(),
                      [](const RecordedRequest& r) { return r.method == "POST"; }) == 1);
}

TEST_CASE("Harbor: a slow answer is kUpstreamTimeout within the configured timeout", "[harbor]") {
  FakeHttpServer server([](const RecordedRequest&) {
    FakeResponse r = Json(json::array());
    r.delay = std::chrono::milliseconds(20000);
    return r;
  });
  auto registry = Harbor(server);
  const auto start = std::chrono::steady_clock::now();
  auto result = registry->ListProjects("", {1, 10});
  const auto waited = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(result);
  CHECK(result.error().code == Errc::kUpstreamTimeout);
  CHECK(result.error().message.find("did not answer within 1000 ms") != std::string::npos);
  // Bounded by the timeout, far below the server's delay (not a speed measurement).
  CHECK(waited < std::chrono::seconds(10));
}

}  // namespace
}  // namespace market::harbor
