// Rendering of every built-in plugin, compared byte for byte with files in golden/.
// MARKET_UPDATE_GOLDEN=1 rewrites the files instead (review the diff before committing).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "market/plugin_registry.hpp"
#include "plugin_test_util.hpp"

using namespace market;
using namespace market::testing;

namespace {

std::filesystem::path GoldenPath(const std::string& name) {
  return std::filesystem::path(MARKET_PLUGINS_GOLDEN_DIR) / (name + ".Dockerfile");
}

void CheckGolden(const std::string& name, const std::string& text) {
  std::filesystem::path path = GoldenPath(name);
  if (const char* update = std::getenv("MARKET_UPDATE_GOLDEN"); update && *update) {
    std::ofstream(path, std::ios::binary) << text;
  }
  std::ifstream in(path, std::ios::binary);
  INFO("golden file " << path);
  REQUIRE(in.good());
  std::stringstream golden;
  golden << in.rdbuf();
  CHECK(text == golden.str());
}

std::string RenderText(DockerfileType type, const Pipeline& pipeline) {
  auto registry = MakeBuiltinPluginRegistry();
  Result<RenderedDockerfile> rendered = registry->Render(type, pipeline);
  INFO((rendered ? std::string() : rendered.error().message));
  REQUIRE(rendered.has_value());
  // Rendering is deterministic: a second run gives the same bytes.
  REQUIRE(registry->Render(type, pipeline)->text == rendered->text);
  return rendered->text;
}

void CheckToolGolden(const std::string& name, PluginInstance entry) {
  CheckGolden(name, RenderText(DockerfileType::kTool, {BaseImage(), std::move(entry)}));
}

}  // namespace

TEST_CASE("golden: base_image_choose_from_harbor") {
  CheckGolden("base_image", RenderText(DockerfileType::kTool, {BaseImage()}));
  CheckGolden(
      "base_image_digest",
      RenderText(DockerfileType::kTool,
                 {BaseImage("harbor.example.com/base/centos@sha256:"
                            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")}));
}

TEST_CASE("golden: run") {
  CheckToolGolden("run", Entry("run", {{"value", List{"apt-get update", "make -j2 && make install",
                                                      R"(echo "a\nb" | tr -d '$')"}}}));
}

TEST_CASE("golden: env_set") {
  CheckToolGolden("env_set",
                  Entry("env_set", {{"key", List{"JAVA_HOME", "GREETING", "PATHS", "EMPTY", "ZH"}},
                                    {"value", List{"/usr/lib/jvm", R"(say "hi" \o/)", "$PATH:/opt",
                                                   "", "中文 \u2028 ok"}}}));
}

TEST_CASE("golden: copy") {
  CheckToolGolden("copy", Entry("copy", {{"key", List{"target/app.jar", "conf/*.yml", "my dir/x"}},
                                         {"value", List{"/app/app.jar", "/etc/app/", "rel/"}}}));
}

TEST_CASE("golden: expose") {
  CheckToolGolden("expose", Entry("expose", {{"port", List{"80", "443/tcp", "53/udp"}}}));
}

TEST_CASE("golden: entrypoint") {
  CheckToolGolden(
      "entrypoint",
      Entry("entrypoint",
            {{"input_entrypoint", R"(/bin/sh -c 'exec java $JAVA_OPTS -jar "/app/a b.jar"')"}}));
}

TEST_CASE("golden: work_dir") {
  CheckToolGolden("work_dir", Entry("work_dir", {{"input_workDir", "/app"}}));
  CheckToolGolden("work_dir_quoted", Entry("work_dir", {{"input_workDir", "/opt/my app"}}));
}

TEST_CASE("golden: maintainer") {
  CheckToolGolden(
      "maintainer",
      Entry("maintainer", {{"input_maintainer", R"(Zhang San "zs" <zs@example.com>)"}}));
}

TEST_CASE("golden: label") {
  CheckToolGolden("label", Entry("label", {{"key", List{"org.opencontainers.image.title", "team"}},
                                           {"value", List{"Image Market", "infra $x"}}}));
}

TEST_CASE("golden: user") { CheckToolGolden("user", Entry("user", {{"input_user", "1000:1000"}})); }

TEST_CASE("golden: arg") {
  CheckToolGolden(
      "arg", Entry("arg", {{"key", List{"VERSION", "BUILD_ID"}}, {"value", List{"1.2.3", ""}}}));
}

TEST_CASE("golden: cmd") {
  CheckToolGolden("cmd", Entry("cmd", {{"input_cmd", R"(--port 8080 --name "my app")"}}));
}

TEST_CASE("golden: healthcheck") {
  CheckToolGolden("healthcheck",
                  Entry("healthcheck", {{"cmd", "curl -f http://localhost:8080/healthz"},
                                        {"interval", "30s"},
                                        {"timeout", "5s"},
                                        {"start_period", "1m"},
                                        {"retries", "3"}}));
  CheckToolGolden("healthcheck_minimal", Entry("healthcheck", {{"cmd", "true"}}));
}

TEST_CASE("golden: download_executable_source") {
  auto registry = MakeBuiltinPluginRegistry();
  Pipeline pipeline = {BaseImage(), Entry("download_executable_source",
                                          {{"source_type", "git"},
                                           {"source_url", "https://git.example.com/team/app.git"},
                                           {"checkoutAs", "app-src"},
                                           {"containerPath", "/src/app"},
                                           {"username", "ci"},
                                           {"password", "s3cret"},
                                           {"ref", "release/1.2"}})};
  CheckGolden("download_executable_source", RenderText(DockerfileType::kTool, pipeline));
  auto rendered = registry->Render(DockerfileType::kTool, pipeline);
  REQUIRE(rendered->sources.size() == 1);
  const SourceSpec& s = rendered->sources[0];
  CHECK(s.type == "git");
  CHECK(s.url == "https://git.example.com/team/app.git");
  CHECK(s.ref == "release/1.2");
  CHECK(s.checkout_as == "app-src");
  CHECK(s.username == "ci");
  CHECK(s.password == "s3cret");
  CHECK(rendered->dockerfile_source == nullptr);
}

TEST_CASE("golden: static_dockerfile (edit)") {
  const std::string text =
      "FROM busybox:1 AS build\nRUN echo $HOME \\\n  && true\n\nFROM busybox:1\r\n"
      "COPY --from=build /etc/hostname /x\n\n\n";
  CheckGolden(
      "static_dockerfile",
      RenderText(DockerfileType::kEdit, {Entry("static_dockerfile", {{"dockerfile", text}})}));
  CheckGolden("static_dockerfile_with_source",
              RenderText(DockerfileType::kEdit,
                         {Entry("static_dockerfile", {{"dockerfile", "FROM busybox:1"}}),
                          Entry("download_executable_source",
                                {{"source_type", "svn"},
                                 {"source_url", "svn://svn.example.com/repo/trunk"},
                                 {"checkoutAs", "trunk"},
                                 {"containerPath", "/opt/trunk"}})}));
}

TEST_CASE("golden: download_dockerfile renders no text, only where to fetch it") {
  auto registry = MakeBuiltinPluginRegistry({.allow_ssh = true});
  auto rendered = registry->Render(
      DockerfileType::kDownload,
      {Entry("download_dockerfile", {{"sourceType", "git"},
                                     {"sourceUrl", "git@git.example.com:team/app.git"},
                                     {"checkoutAs", "repo"},
                                     {"password", "tok"},
                                     {"ref", "main"},
                                     {"dockerfilePath", "docker/Dockerfile.prod"}})});
  REQUIRE(rendered.has_value());
  CHECK(rendered->text.empty());
  CHECK(rendered->sources.empty());
  REQUIRE(rendered->dockerfile_source != nullptr);
  CHECK(rendered->dockerfile_source->type == "git");
  CHECK(rendered->dockerfile_source->url == "git@git.example.com:team/app.git");
  CHECK(rendered->dockerfile_source->checkout_as == "repo");
  CHECK(rendered->dockerfile_source->ref == "main");
  CHECK(rendered->dockerfile_source->password == "tok");
  CHECK(rendered->dockerfile_path == "docker/Dockerfile.prod");

  auto defaulted =
      registry->Render(DockerfileType::kDownload,
                       {Entry("download_dockerfile", {{"sourceType", "svn"},
                                                      {"sourceUrl", "https://svn.example.com/repo"},
                                                      {"checkoutAs", "repo"}})});
  REQUIRE(defaulted.has_value());
  CHECK(defaulted->dockerfile_path == "Dockerfile");
}

TEST_CASE("golden: a typical pipeline puts FROM first, the rest in pipeline order") {
  Pipeline pipeline = {
      Entry("maintainer", {{"input_maintainer", "team-infra@example.com"}}),
      Entry("env_set",
            {{"key", List{"LANG", "JAVA_OPTS"}}, {"value", List{"C.UTF-8", "-Xmx512m"}}}),
      BaseImage("harbor.example.com/base/openjdk:17"),
      Entry("arg", {{"key", "APP_VERSION"}, {"value", "1.0.0"}}),
      Entry("work_dir", {{"input_workDir", "/app"}}),
      Entry("download_executable_source", {{"source_type", "git"},
                                           {"source_url", "https://git.example.com/team/app.git"},
                                           {"checkoutAs", "src"},
                                           {"containerPath", "/app/src"}}),
      Entry("run", {{"value", List{"cd /app/src && ./gradlew build", "rm -rf /root/.gradle"}}}),
      Entry("copy", {{"key", "config/app.yml"}, {"value", "/app/config/"}}),
      Entry("label", {{"key", "org.opencontainers.image.version"}, {"value", "1.0.0"}}),
      Entry("expose", {{"port", "8080"}}),
      Entry("user", {{"input_user", "app"}}),
      Entry("healthcheck", {{"cmd", "curl -f http://localhost:8080/"}, {"interval", "30s"}}),
      Entry("entrypoint", {{"input_entrypoint", "java -jar /app/src/build/app.jar"}}),
      Entry("cmd", {{"input_cmd", "--spring.profiles.active=prod"}}),
  };
  CheckGolden("typical_pipeline", RenderText(DockerfileType::kTool, pipeline));
}
