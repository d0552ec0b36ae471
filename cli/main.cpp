// market: the command-line client of the Image Market server.

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "api_client.hpp"
#include "commands.hpp"

namespace {

using market::cli::CliError;
using market::cli::CliResult;

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

// Page numbers and build ids: CLI11's PositiveNumber would print its double range instead.
const CLI::Validator kPositive(
    [](std::string& text) -> std::string {
      std::size_t used = 0;
      long long value = 0;
      try {
        value = std::stoll(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != text.size() || value < 1) {
        return "must be a positive integer, not '" + text + "'";
      }
      return "";
    },
    "POSITIVE");

int Report(const CliError& error) {
  if (error.code != 0) {
    std::cerr << fmt::format("market: error {}: {}\n", error.code, error.message);
  } else {
    std::cerr << fmt::format("market: {}\n", error.message);
  }
  return error.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"market: the Image Market command-line client", "market"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand: `market list --json`

  market::cli::ClientOptions options;
  options.server = EnvOr("MARKET_SERVER", "http://127.0.0.1:8080");
  options.operator_name = EnvOr("MARKET_OPERATOR", "");
  bool json = false;
  app.add_option("--server", options.server, "server URL (MARKET_SERVER)")->capture_default_str();
  app.add_option("--operator", options.operator_name,
                 "who makes the change (MARKET_OPERATOR, else USER)");
  // The token is read from the environment by preference: a flag shows in the process list.
  options.token = EnvOr("MARKET_TOKEN", "");
  app.add_option("--token", options.token, "bearer token (better: MARKET_TOKEN)");
  app.add_flag("--json", json, "print the answer's content as JSON instead of a table");

  market::cli::ListArgs list;
  auto* list_cmd = app.add_subcommand("list", "list projects");
  list_cmd->add_option("--filter", list.filter, "substring of the project name");
  list_cmd->add_option("--page", list.page, "page, from 1")->check(kPositive);
  list_cmd->add_option("--page-size", list.page_size, "projects per page (at most 100)")
      ->check(CLI::Range(1, 100));

  std::string name;
  auto* info_cmd = app.add_subcommand("info", "show a project and its pipeline");
  info_cmd->add_option("NAME", name, "project name")->required();
  auto* new_cmd = app.add_subcommand("new", "create an empty project");
  new_cmd->add_option("NAME", name, "project name")->required();
  auto* delete_cmd = app.add_subcommand("delete", "delete a project");
  delete_cmd->add_option("NAME", name, "project name")->required();

  std::string source, destination;
  auto* clone_cmd = app.add_subcommand("clone", "copy a project's configuration and pipeline");
  clone_cmd->add_option("SRC", source, "existing project")->required();
  clone_cmd->add_option("DST", destination, "new project")->required();

  market::cli::SaveArgs save;
  auto* save_cmd = app.add_subcommand("save", "save a project's pipeline from a JSON file");
  save_cmd->add_option("NAME", save.name, "project name")->required();
  save_cmd
      ->add_option("--file", save.file,
                   "JSON pipeline [{\"$$plugin\": ...}] or a whole save body; - for stdin")
      ->required();
  save_cmd->add_option("--cluster", save.cluster, "registry project the image goes to");
  save_cmd->add_option("--type", save.type, "DefineDockerFileType")
      ->check(CLI::IsMember({"tool", "edit", "download"}));
  save_cmd->add_flag("--add", save.add, "fail when the project already exists");

  auto* dockerfile_cmd = app.add_subcommand("dockerfile", "print the rendered Dockerfile");
  dockerfile_cmd->add_option("NAME", name, "project name")->required();

  market::cli::BuildArgs build;
  auto* build_cmd = app.add_subcommand("build", "queue a build; prints its id");
  build_cmd->add_option("NAME", build.name, "project name")->required();
  build_cmd->add_option("--tag", build.tag, "image tag (default: the UTC time)");
  build_cmd->add_flag("--follow", build.follow,
                      "stream the log; exit 0 when the build succeeds, 1 otherwise");
  build_cmd->add_flag("--no-cache", build.no_cache,
                      "build cold: no cached step is reused (the cache is refreshed)");

  std::int64_t build_id = 0;
  auto* cancel_cmd = app.add_subcommand("cancel", "cancel a queued or running build");
  cancel_cmd->add_option("ID", build_id, "build id")->required()->check(kPositive);

  market::cli::HistoryArgs history;
  auto* history_cmd = app.add_subcommand("history", "list a project's builds, newest first");
  history_cmd->add_option("NAME", history.name, "project name")->required();
  history_cmd->add_option("--page", history.page, "page, from 1")->check(kPositive);
  history_cmd->add_option("--page-size", history.page_size, "builds per page (at most 100)")
      ->check(CLI::Range(1, 100));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return market::cli::kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return market::cli::kExitOk;
  } catch (const CLI::ParseError& error) {
    std::cerr << "market: " << error.what() << "\n(run `market --help` for usage)\n";
    return market::cli::kExitUsage;
  }

  // Without a token the operator defaults to the login name. With one it is the token's user,
  // which the server takes when no operator is sent; naming another is for admins only.
  if (options.operator_name.empty() && options.token.empty()) {
    options.operator_name = EnvOr("USER", "");
  }

  CliResult<std::unique_ptr<market::cli::ApiClient>> api = market::cli::ApiClient::Create(options);
  if (!api) return Report(api.error());
  market::cli::CommandContext context{**api, json};

  CliResult<int> result;
  if (*list_cmd) {
    result = ListCommand(context, list);
  } else if (*info_cmd) {
    result = InfoCommand(context, name);
  } else if (*new_cmd) {
    result = NewCommand(context, name);
  } else if (*delete_cmd) {
    result = DeleteCommand(context, name);
  } else if (*clone_cmd) {
    result = CloneCommand(context, source, destination);
  } else if (*save_cmd) {
    result = SaveCommand(context, save);
  } else if (*dockerfile_cmd) {
    result = DockerfileCommand(context, name);
  } else if (*build_cmd) {
    result = BuildCommand(context, build);
  } else if (*cancel_cmd) {
    result = CancelCommand(context, build_id);
  } else if (*history_cmd) {
    result = HistoryCommand(context, history);
  }
  if (!result) return Report(result.error());
  return *result;
}
