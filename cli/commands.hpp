#pragma once
// The `market` subcommands: each turns its arguments into API calls and prints the answer as a
// table or text (or, with --json, the envelope's content as JSON).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api_client.hpp"

namespace market::cli {

struct CommandContext {
  ApiClient& api;
  bool json = false;  // print the raw content JSON instead of tables and text
};

struct ListArgs {
  std::string filter;
  int page = 1;
  int page_size = 10;
};

struct SaveArgs {
  std::string name;
  std::string file;     // a path, or "-" for standard input
  std::string cluster;  // empty: leave as the file (or the server) has it
  std::string type;     // tool, edit or download; empty: leave
  bool add = false;     // addOrUpdate=add: fail when the project exists
};

struct BuildArgs {
  std::string name;
  std::string tag;
  bool follow = false;
  bool no_cache = false;  // every step runs again
};

struct HistoryArgs {
  std::string name;
  int page = 1;
  int page_size = 10;
};

// Each returns the process exit code on success (0, or 1 for a build that did not succeed).
CliResult<int> ListCommand(CommandContext& context, const ListArgs& args);
CliResult<int> InfoCommand(CommandContext& context, const std::string& name);
CliResult<int> NewCommand(CommandContext& context, const std::string& name);
CliResult<int> DeleteCommand(CommandContext& context, const std::string& name);
CliResult<int> CloneCommand(CommandContext& context, const std::string& source,
                            const std::string& destination);
CliResult<int> SaveCommand(CommandContext& context, const SaveArgs& args);
CliResult<int> DockerfileCommand(CommandContext& context, const std::string& name);
CliResult<int> BuildCommand(CommandContext& context, const BuildArgs& args);
CliResult<int> CancelCommand(CommandContext& context, std::int64_t id);
CliResult<int> HistoryCommand(CommandContext& context, const HistoryArgs& args);

// The body of POST /api/project/save from a file's text: a JSON pipeline array
// (`[{"$$plugin": ...}]`) or a whole save body object. The command line wins over the file for
// the project name, Cluster, type and add. A usage error names what is wrong with the text.
CliResult<nlohmann::json> MakeSaveBody(const SaveArgs& args, std::string_view file_text);

// "2026-11-28T15:20:33.123Z" -> "2026-11-28 15:20:33" (UTC); other text unchanged.
std::string ShortTime(std::string_view iso);
// Seconds as "45s", "3m07s", "1h02m".
std::string FormatDuration(std::int64_t seconds);
// Bytes as "812 B", "12.3 KiB", "4.0 MiB".
std::string FormatBytes(std::int64_t bytes);

}  // namespace market::cli
