// The client's own logic, in-process: the save body built from a file, tables, formatting.

#include <catch2/catch.hpp>
#include <sstream>

#include "commands.hpp"
#include "table.hpp"

using market::cli::MakeSaveBody;
using market::cli::SaveArgs;
using nlohmann::json;

namespace {
SaveArgs Args(std::string name, std::string file) {
  SaveArgs args;
  args.name = std::move(name);
  args.file = std::move(file);
  return args;
}
}  // namespace

TEST_CASE("save body from a pipeline array", "[cli][unit]") {
  SaveArgs args = Args("web", "p.json");
  auto body = MakeSaveBody(args, R"([{"$$plugin": "run", "value": ["make"]}])");
  REQUIRE(body);
  CHECK(*body == json{{"project", "web"},
                      {"addOrUpdate", "update"},
                      {"$$plugin", json::array({{{"$$plugin", "run"}, {"value", {"make"}}}})}});
}

TEST_CASE("save body from a whole body object: the command line wins", "[cli][unit]") {
  SaveArgs args = Args("web", "-");
  args.cluster = "team";
  args.type = "edit";
  args.add = true;
  auto body = MakeSaveBody(args, R"({"projectName": "x", "project": "y", "Cluster": "c",
      "DefineDockerFileType": "tool", "addOrUpdate": "update", "$$plugin": []})");
  REQUIRE(body);
  CHECK((*body)["project"] == "web");
  CHECK_FALSE(body->contains("projectName"));
  CHECK((*body)["Cluster"] == "team");
  CHECK((*body)["DefineDockerFileType"] == "edit");
  CHECK((*body)["addOrUpdate"] == "add");

  SaveArgs plain = Args("web", "-");
  auto kept = MakeSaveBody(plain, R"({"Cluster": "c", "addOrUpdate": "add"})");
  REQUIRE(kept);
  CHECK((*kept)["Cluster"] == "c");
  CHECK((*kept)["addOrUpdate"] == "add");
}

TEST_CASE("save body: bad files are usage errors naming the problem", "[cli][unit]") {
  SaveArgs args = Args("web", "p.json");
  auto check = [&](const char* text, const char* expected) {
    auto body = MakeSaveBody(args, text);
    REQUIRE_FALSE(body);
    CHECK(body.error().exit_code == market::cli::kExitUsage);
    CHECK_THAT(body.error().message, Catch::Contains("--file p.json") && Catch::Contains(expected));
  };
  check("", "not valid JSON");
  check("\"run\"", "pipeline array");
  check(R"({"$$plugin": {"$$plugin": "run"}})", "must be an array");
  check(R"([{"$$plugin": "run"}, "env_set"])", "plugin 2");
  check(R"([{"$$plugin": 3}])", "plugin 1");
}

TEST_CASE("tables pad columns to the widest cell", "[cli][unit]") {
  market::cli::Table table({"NAME", "BY"});
  table.AddRow({"a", "root"});
  table.AddRow({"longer-name", "\xe7\x8e\x8b"});  // one code point, three bytes
  table.AddRow({"line\nbreak"});                  // missing cells are empty
  std::ostringstream out;
  table.Render(out);
  CHECK(out.str() ==
        "NAME         BY\n"
        "a            root\n"
        "longer-name  \xe7\x8e\x8b\n"
        "line break\n");
}

TEST_CASE("durations, sizes and times for people", "[cli][unit]") {
  CHECK(market::cli::FormatDuration(0) == "0s");
  CHECK(market::cli::FormatDuration(59) == "59s");
  CHECK(market::cli::FormatDuration(187) == "3m07s");
  CHECK(market::cli::FormatDuration(3725) == "1h02m");
  CHECK(market::cli::FormatBytes(812) == "812 B");
  CHECK(market::cli::FormatBytes(12595) == "12.3 KiB");
  CHECK(market::cli::FormatBytes(4 << 20) == "4.0 MiB");
  CHECK(market::cli::ShortTime("2026-11-28T15:20:33.123Z") == "2026-11-28 15:20:33");
  CHECK(market::cli::ShortTime("yesterday") == "yesterday");
  CHECK(market::cli::ShortTime("") == "");
}
