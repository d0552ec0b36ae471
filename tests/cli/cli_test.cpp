// The `market` binary against a real market-server (SQLite, no registry): every command's
// output, exit codes and error messages.

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_harness.hpp"
#include "support/ports.hpp"

namespace {

using Catch::Matchers::Contains;
using market::cli::testing::RunAgainst;
using market::cli::testing::RunMarket;
using market::cli::testing::RunResult;
using market::cli::testing::ServerProcess;

constexpr const char* kPipeline = R"([
  {"$$plugin": "base_image_choose_from_harbor", "handleInput": "127.0.0.1:5000/base/busybox:1"},
  {"$$plugin": "run", "value": ["echo one", "echo two"]},
  {"$$plugin": "env_set", "key": ["GREETING"], "value": ["hello"]}
])";

std::string WriteFile(const market::testing::TempDir& dir, const std::string& name,
                      const std::string& text) {
  std::string path = (dir.path() / name).string();
  std::ofstream(path) << text;
  return path;
}

// Evaluates `run` once (it may be the call itself) and requires its exit code.
#define CHECK_RUN(run, code)                                                \
  do {                                                                      \
    const RunResult& checked_run = (run);                                   \
    INFO("stdout: " << checked_run.out << "\nstderr: " << checked_run.err); \
    REQUIRE(checked_run.status == (code));                                  \
  } while (false)

}  // namespace

TEST_CASE("new, list, info, save, dockerfile, clone and delete", "[cli]") {
  ServerProcess server;
  market::testing::TempDir dir;

  RunResult created = RunAgainst(server, {"new", "alpha"});
  CHECK_RUN(created, 0);
  CHECK_THAT(created.out, Contains("created project alpha"));
  CHECK_RUN(RunAgainst(server, {"new", "gamma"}), 0);

  RunResult listed = RunAgainst(server, {"list"});
  CHECK_RUN(listed, 0);
  INFO(listed.out);
  CHECK_THAT(listed.out, Contains("NAME") && Contains("CLUSTER") && Contains("LAST MODIFIED"));
  CHECK_THAT(listed.out, Contains("alpha") && Contains("gamma") && Contains("default_cluster"));
  CHECK_THAT(listed.out, Contains("tester"));
  CHECK_THAT(listed.out, Contains("total: 2 projects"));

  // The filter and paging reach the server.
  RunResult filtered = RunAgainst(server, {"list", "--filter", "amm"});
  CHECK_RUN(filtered, 0);
  CHECK_THAT(filtered.out, Contains("gamma") && Contains("total: 1 project"));
  CHECK_THAT(filtered.out, !Contains("alpha"));
  RunResult second_page = RunAgainst(server, {"list", "--page", "2", "--page-size", "1"});
  CHECK_RUN(second_page, 0);
  CHECK_THAT(second_page.out, Contains("gamma") && Contains("page 2 of 2"));
  CHECK_THAT(second_page.out, !Contains("alpha"));

  // --json prints the content as JSON.
  RunResult listed_json = RunAgainst(server, {"list", "--json"});
  CHECK_RUN(listed_json, 0);
  auto projects = nlohmann::json::parse(listed_json.out);
  REQUIRE(projects.is_array());
  REQUIRE(projects.size() == 2);
  CHECK(projects[0]["name"] == "alpha");

  // save from a file: a pipeline array.
  std::string pipeline = WriteFile(dir, "pipeline.json", kPipeline);
  RunResult saved = RunAgainst(server, {"save", "alpha", "--file", pipeline});
  CHECK_RUN(saved, 0);
  CHECK_THAT(saved.out, Contains("saved project alpha (3 plugins)"));

  RunResult info = RunAgainst(server, {"info", "alpha"});
  CHECK_RUN(info, 0);
  INFO(info.out);
  CHECK_THAT(info.out, Contains("name:           alpha"));
  CHECK_THAT(info.out, Contains("type:           tool"));
  CHECK_THAT(info.out, Contains("pipeline: 3 plugins"));
  CHECK_THAT(info.out, Contains("[1] base_image_choose_from_harbor\n"
                                "    handleInput: 127.0.0.1:5000/base/busybox:1\n"));
  CHECK_THAT(info.out, Contains("[2] run\n    value: echo one\n           echo two\n"));
  CHECK_THAT(info.out, Contains("[3] env_set"));

  RunResult info_json = RunAgainst(server, {"--json", "info", "alpha"});
  CHECK_RUN(info_json, 0);
  auto project = nlohmann::json::parse(info_json.out);
  REQUIRE(project["plugins"].size() == 3);
  CHECK(project["plugins"][1]["value"] == nlohmann::json::array({"echo one", "echo two"}));

  RunResult dockerfile = RunAgainst(server, {"dockerfile", "alpha"});
  CHECK_RUN(dockerfile, 0);
  INFO(dockerfile.out);
  CHECK_THAT(dockerfile.out, Contains("FROM 127.0.0.1:5000/base/busybox:1"));
  CHECK_THAT(dockerfile.out, Contains("RUN") && Contains("echo one") && Contains("GREETING"));

  // save from standard input: a whole save body; the command line wins over the file.
  RunResult saved_stdin =
      RunAgainst(server, {"save", "gamma", "--file", "-", "--cluster", "team"},
                 R"({"project": "other", "Cluster": "ignored", "DefineDockerFileType": "tool",
          "$$plugin": [{"$$plugin": "base_image_choose_from_harbor", "handleInput": "busybox"}]})");
  CHECK_RUN(saved_stdin, 0);
  RunResult gamma = RunAgainst(server, {"--json", "info", "gamma"});
  CHECK_RUN(gamma, 0);
  auto gamma_json = nlohmann::json::parse(gamma.out);
  CHECK(gamma_json["Cluster"] == "team");
  CHECK(gamma_json["plugins"].size() == 1);
  CHECK_RUN(RunAgainst(server, {"info", "other"}), 1);

  // --add refuses an existing project.
  RunResult add_existing = RunAgainst(server, {"save", "alpha", "--file", pipeline, "--add"});
  CHECK_RUN(add_existing, 1);
  CHECK_THAT(add_existing.err, Contains("10001"));

  RunResult cloned = RunAgainst(server, {"clone", "alpha", "beta"});
  CHECK_RUN(cloned, 0);
  CHECK_THAT(cloned.out, Contains("cloned project alpha to beta"));
  RunResult beta = RunAgainst(server, {"--json", "info", "beta"});
  CHECK_RUN(beta, 0);
  auto beta_json = nlohmann::json::parse(beta.out);
  CHECK(beta_json["plugins"] == project["plugins"]);
  CHECK(beta_json["creator"] == "tester");

  RunResult deleted = RunAgainst(server, {"delete", "beta"});
  CHECK_RUN(deleted, 0);
  CHECK_THAT(deleted.out, Contains("deleted project beta"));
  RunResult after = RunAgainst(server, {"list"});
  CHECK_THAT(after.out, !Contains("beta") && Contains("total: 2 projects"));
  RunResult deleted_again = RunAgainst(server, {"delete", "beta"});
  CHECK_RUN(deleted_again, 1);
  CHECK_THAT(deleted_again.err, Contains("error 10003"));
}

TEST_CASE("history without builds and other API errors print errMsg and exit 1", "[cli]") {
  ServerProcess server;
  CHECK_RUN(RunAgainst(server, {"new", "quiet"}), 0);

  RunResult history = RunAgainst(server, {"history", "quiet"});
  CHECK_RUN(history, 1);
  CHECK_THAT(history.err, Contains("error 10007") && Contains("no builds"));
  CHECK(history.out.empty());

  RunResult missing = RunAgainst(server, {"info", "nosuch"});
  CHECK_RUN(missing, 1);
  CHECK_THAT(missing.err, Contains("error 10008"));

  RunResult bad_name = RunAgainst(server, {"new", "bad*name"});
  CHECK_RUN(bad_name, 1);
  CHECK_THAT(bad_name.err, Contains("error 10006") && Contains("special char: *"));

  RunResult exists = RunAgainst(server, {"new", "quiet"});
  CHECK_RUN(exists, 1);
  CHECK_THAT(exists.err, Contains("error 10001"));

  RunResult clone_missing = RunAgainst(server, {"clone", "nosuch", "copy"});
  CHECK_RUN(clone_missing, 1);
  CHECK_THAT(clone_missing.err, Contains("error 10002"));

  // A pipeline the server rejects: an unknown plugin.
  RunResult unknown_plugin =
      RunAgainst(server, {"save", "quiet", "--file", "-"}, R"([{"$$plugin": "no_such_plugin"}])");
  CHECK_RUN(unknown_plugin, 1);
  CHECK_THAT(unknown_plugin.err, Contains("error 10009"));

  // No registry configured: a build is refused with the server's own message.
  RunResult build = RunAgainst(server, {"build", "quiet"});
  CHECK_RUN(build, 1);
  CHECK_THAT(build.err, Contains("error 10013"));

  RunResult cancel = RunAgainst(server, {"cancel", "999"});
  CHECK_RUN(cancel, 1);
  CHECK_THAT(cancel.err, Contains("error 10011"));
}

TEST_CASE("usage errors exit 2 before anything is sent", "[cli]") {
  ServerProcess server;
  market::testing::TempDir dir;

  auto usage = [&](const std::vector<std::string>& args, const std::string& text,
                   const std::string& input = "") {
    RunResult result = RunAgainst(server, args, input);
    INFO("args: " << args.size() << " stdout: " << result.out << "\nstderr: " << result.err);
    CHECK(result.status == 2);
    CHECK_THAT(result.err, Contains(text));
  };
  usage({}, "subcommand");
  usage({"frobnicate"}, "subcommand");
  usage({"info"}, "NAME");
  usage({"list", "--page", "0"}, "--page");
  usage({"list", "--page-size", "500"}, "--page-size");
  usage({"cancel", "abc"}, "ID");
  usage({"save", "x"}, "--file");
  usage({"save", "x", "--file", "pipeline.json", "--type", "fancy"}, "--type");
  usage({"save", "x", "--file", (dir.path() / "absent.json").string()}, "cannot be read");
  usage({"save", "x", "--file", "-"}, "not valid JSON", "[{");
  usage({"save", "x", "--file", "-"}, "pipeline array", "42");
  usage({"save", "x", "--file", "-"}, "plugin 2", R"([{"$$plugin": "run"}, {"value": 1}])");
  usage({"--server", "ftp://example.com", "list"}, "--server");

  // Changes need an operator.
  RunResult no_operator = RunMarket(
      {"new", "someone"}, {{"MARKET_SERVER", server.url()}, {"MARKET_OPERATOR", ""}, {"USER", ""}});
  CHECK(no_operator.status == 2);
  CHECK_THAT(no_operator.err, Contains("--operator"));
  // ...and nothing was created.
  CHECK_THAT(RunAgainst(server, {"list"}).out, Contains("total: 0 projects"));

  // --help is not an error.
  RunResult help = RunAgainst(server, {"--help"});
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Contains("history") && Contains("dockerfile"));
}

TEST_CASE("a server that cannot be reached exits 3", "[cli]") {
  const std::string url = "http://127.0.0.1:" + std::to_string(market::testing::FreeLoopbackPort());
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"list"}, {"new", "x"}, {"history", "x"}}) {
    RunResult result = RunMarket(args, {{"MARKET_SERVER", url}, {"MARKET_OPERATOR", "tester"}});
    INFO("stderr: " << result.err);
    CHECK(result.status == 3);
    CHECK_THAT(result.err, Contains("cannot reach the server at " + url));
  }
  // The flag wins over the environment.
  RunResult flag = RunMarket({"--server", url, "list"}, {{"MARKET_SERVER", "http://127.0.0.1:1"}});
  CHECK(flag.status == 3);
  CHECK_THAT(flag.err, Contains(url));
}

TEST_CASE("the request carries the operator, the bearer token and a JSON body", "[cli]") {
  market::cli::testing::OneRequestServer fake(R"({"code": 10000, "errMsg": "ok", "content": ""})");
  RunResult result = RunMarket({"new", "traced"}, {{"MARKET_SERVER", fake.url() + "/prefix/"},
                                                   {"MARKET_OPERATOR", "alice"},
                                                   {"MARKET_TOKEN", "tok-123"}});
  CHECK(result.status == 0);
  const std::string request = fake.Request();
  INFO(request);
  CHECK(request.starts_with("POST /prefix/api/project/new HTTP/1.1\r\n"));
  CHECK_THAT(request, Contains("Authorization: Bearer tok-123\r\n"));
  CHECK_THAT(request, Contains("Content-Type: application/json\r\n"));
  const std::string body = request.substr(request.find("\r\n\r\n") + 4);
  CHECK(nlohmann::json::parse(body) ==
        nlohmann::json{{"projectName", "traced"}, {"operator", "alice"}});
}

TEST_CASE("with a token and no operator, the server records the token's user", "[cli]") {
  // Neither MARKET_OPERATOR nor USER is sent: the server takes the token's user.
  market::cli::testing::OneRequestServer fake(R"({"code": 10000, "errMsg": "ok", "content": ""})");
  RunResult result = RunMarket({"new", "mine"}, {{"MARKET_SERVER", fake.url()},
                                                 {"MARKET_OPERATOR", ""},
                                                 {"USER", "login-name"},
                                                 {"MARKET_TOKEN", "tok-9"}});
  CHECK(result.status == 0);
  std::string request = fake.Request();
  INFO(request);
  CHECK_THAT(request, Contains("Authorization: Bearer tok-9\r\n"));
  CHECK(nlohmann::json::parse(request.substr(request.find("\r\n\r\n") + 4)) ==
        nlohmann::json{{"projectName", "mine"}});

  // An operator given with the token is sent: an admin's token may act for someone.
  market::cli::testing::OneRequestServer named(R"({"code": 10000, "errMsg": "ok", "content": ""})");
  RunResult acting = RunMarket({"new", "theirs", "--operator", "carol"},
                               {{"MARKET_SERVER", named.url()},
                                {"MARKET_OPERATOR", ""},
                                {"MARKET_TOKEN", "tok-9"}});
  CHECK(acting.status == 0);
  request = named.Request();
  CHECK(nlohmann::json::parse(request.substr(request.find("\r\n\r\n") + 4)) ==
        nlohmann::json{{"projectName", "theirs"}, {"operator", "carol"}});

  // Without a token, no operator and no USER is still a usage error.
  RunResult none = RunMarket({"new", "nobody"}, {{"MARKET_SERVER", "http://127.0.0.1:1"},
                                                 {"MARKET_OPERATOR", ""},
                                                 {"USER", ""},
                                                 {"MARKET_TOKEN", ""}});
  CHECK(none.status == 2);
  CHECK_THAT(none.err, Contains("--operator"));
}

TEST_CASE("an answer that is not an envelope is an error naming the HTTP status", "[cli]") {
  market::cli::testing::OneRequestServer fake("<html>proxy says hi</html>");
  RunResult result = RunMarket({"list"}, {{"MARKET_SERVER", fake.url()}});
  CHECK(result.status == 1);
  CHECK_THAT(result.err, Contains("HTTP 200 without an API envelope: <html>proxy says hi"));
  CHECK_THAT(fake.Request(), Contains("GET /api/project/list?projectName=&page=1&page_size=10 "));
}

TEST_CASE("the token is sent but never printed", "[cli]") {
  ServerProcess server;
  const std::string secret = "s3cret-token-value";
  RunResult result = RunMarket(
      {"info", "nosuch"},
      {{"MARKET_SERVER", server.url()}, {"MARKET_OPERATOR", "tester"}, {"MARKET_TOKEN", secret}});
  CHECK(result.status == 1);
  CHECK_THAT(result.out + result.err, !Contains(secret));
  RunResult flag = RunMarket({"--token", secret, "--server", "http://127.0.0.1:1", "list"});
  CHECK(flag.status == 3);
  CHECK_THAT(flag.out + flag.err, !Contains(secret));
}
