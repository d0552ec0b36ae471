// The real check of the quoting: a pipeline full of hostile-but-valid values is rendered and
// built with buildah; the image's config must hold every value exactly, and the build must have
// exactly the instructions rendered. Needs buildah and Debian's busybox-static (/bin/busybox);
// skipped with a notice without them. Uses its own storage folder, no registry.
#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "market/plugin_registry.hpp"
#include "plugin_test_util.hpp"
#include "support/test_env.hpp"

using namespace market;
using namespace market::testing;

namespace {

bool HaveBuildah() { return std::system("buildah --version >/dev/null 2>&1") == 0; }

// Runs a command line built only from paths this test made; returns exit status and output.
std::pair<int, std::string> Run(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  while (std::size_t n = fread(buffer.data(), 1, buffer.size(), pipe))
    output.append(buffer.data(), n);
  int status = pclose(pipe);
  return {status, output};
}

}  // namespace

TEST_CASE("buildah reads the rendered Dockerfile back as exactly the values given") {
  if (!HaveBuildah() || !std::filesystem::exists("/bin/busybox")) {
    WARN("buildah or /bin/busybox missing: skipping the buildah round trip");
    return;
  }
  TempDir dir;
  std::filesystem::path context = dir.path() / "context";
  std::filesystem::create_directories(context / "my dir");
  std::filesystem::copy_file("/bin/busybox", context / "busybox");
  std::ofstream(context / "my dir" / "data.txt") << "data\n";

  const std::string nasty = R"(a "q" \ $HOME ${X} `id` 'x' #)";
  const std::string trailing = R"(C:\)";
  const std::string unicode = "中文\u2028RUN x";
  Pipeline pipeline = {
      BaseImage("scratch"),
      Entry("copy",
            {{"key", List{"busybox", "my dir"}}, {"value", List{"/bin/sh", "/opt/my dir/"}}}),
      Entry("env_set", {{"key", List{"NASTY", "TRAILING", "UNICODE", "EMPTY"}},
                        {"value", List{nasty, trailing, unicode, ""}}}),
      Entry("label", {{"key", List{"org.example.nasty", "x"}}, {"value", List{nasty, trailing}}}),
      Entry("maintainer", {{"input_maintainer", R"(Zhang "zs" <zs@example.com>)"}}),
      Entry("arg", {{"key", "A"}, {"value", nasty}}),
      Entry("run", {{"value", List{"echo \"$A\" > /arg.txt", "echo 'x\u2028RUN y' > /u.txt"}}}),
      Entry("work_dir", {{"input_workDir", "/opt/my dir"}}),
      Entry("expose", {{"port", List{"8080", "53/udp"}}}),
      Entry("user", {{"input_user", "1000:1000"}}),
      Entry("entrypoint", {{"input_entrypoint", R"(/bin/sh -c 'echo "$NASTY"' '"]' \\)"}}),
      Entry("cmd", {{"input_cmd", R"(--name "my app")"}}),
  };
  auto plugins = MakeBuiltinPluginRegistry();
  Result<RenderedDockerfile> rendered = plugins->Render(DockerfileType::kTool, pipeline);
  REQUIRE(rendered.has_value());
  std::ofstream(context / "Dockerfile", std::ios::binary) << rendered->text;
  std::size_t lines = std::count(rendered->text.begin(), rendered->text.end(), '\n');

  const std::string buildah = "buildah --root " + (dir.path() / "storage").string() +
                              " --runroot " + (dir.path() / "run").string() +
                              " --storage-driver vfs";
  auto [status, output] =
      Run(buildah + " bud --isolation chroot --pull=never -t roundtrip " + context.string());
  INFO(rendered->text);
  INFO(output);
  REQUIRE(status == 0);
  // Every rendered line is one step: nothing was joined, split or swallowed.
  CHECK_THAT(output,
             Catch::Contains("STEP " + std::to_string(lines) + "/" + std::to_string(lines) + ":"));

  auto [inspect_status, config_text] = Run(buildah + " inspect --type image roundtrip");
  INFO(config_text);
  REQUIRE(inspect_status == 0);
  // buildah may print warnings before the JSON.
  nlohmann::json config =
      nlohmann::json::parse(config_text.substr(config_text.find('{'))).at("OCIv1").at("config");
  INFO(config.dump(1));
  std::vector<std::string> env = config.at("Env");
  auto has_env = [&](const std::string& kv) {
    return std::find(env.begin(), env.end(), kv) != env.end();
  };
  CHECK(has_env("NASTY=" + nasty));
  CHECK(has_env("TRAILING=" + trailing));
  CHECK(has_env("UNICODE=" + unicode));
  CHECK(has_env("EMPTY="));
  CHECK(config.at("Labels").at("org.example.nasty") == nasty);
  CHECK(config.at("Labels").at("x") == trailing);
  CHECK(config.at("Labels").at("maintainer") == R"(Zhang "zs" <zs@example.com>)");
  CHECK(config.at("WorkingDir") == "/opt/my dir");
  CHECK(config.at("User") == "1000:1000");
  CHECK(config.at("ExposedPorts").contains("8080/tcp"));
  CHECK(config.at("ExposedPorts").contains("53/udp"));
  CHECK(config.at("Entrypoint") ==
        nlohmann::json({"/bin/sh", "-c", "echo \"$NASTY\"", "\"]", "\\"}));
  CHECK(config.at("Cmd") == nlohmann::json({"--name", "my app"}));

  // The ARG default reached the RUN as data.
  auto [mount_status, mount_output] = Run(buildah + " from --pull=never --name rt roundtrip");
  REQUIRE(mount_status == 0);
  auto [cat_status, arg_text] =
      Run(buildah + " run --isolation chroot rt -- /bin/sh -c 'cat /arg.txt'");
  INFO(arg_text);
  CHECK(cat_status == 0);
  CHECK(arg_text.find(nasty + "\n") != std::string::npos);
  Run(buildah + " rm rt");
  Run(buildah + " rmi -a -f");
}
