// Validation codes and messages, normalization to the schema, and the pipeline rules per type.
#include <catch2/catch.hpp>

#include "market/plugin_registry.hpp"
#include "plugin_test_util.hpp"

using namespace market;
using namespace market::testing;

namespace {

const PluginRegistry& Plugins() {
  static const auto registry = MakeBuiltinPluginRegistry();
  return *registry;
}

Error ErrorOf(DockerfileType type, const Pipeline& pipeline) {
  Result<Pipeline> r = Plugins().Validate(type, pipeline);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

PluginInstance Source(std::string checkout_as = "src") {
  return Entry("download_executable_source", {{"source_type", "git"},
                                              {"source_url", "https://git.example.com/a.git"},
                                              {"checkoutAs", std::move(checkout_as)},
                                              {"containerPath", "/src"}});
}

PluginInstance Static() { return Entry("static_dockerfile", {{"dockerfile", "FROM busybox\n"}}); }

PluginInstance Download() {
  return Entry("download_dockerfile", {{"sourceType", "git"},
                                       {"sourceUrl", "https://git.example.com/a.git"},
                                       {"checkoutAs", "repo"}});
}

}  // namespace

TEST_CASE("the built-in registry holds the original's plugins and the new ones, by name") {
  std::vector<std::string> names;
  for (const PluginSchema* s : Plugins().Schemas()) names.push_back(s->name);
  CHECK(names == std::vector<std::string>{
                     "arg", "base_image_choose_from_harbor", "cmd", "copy", "download_dockerfile",
                     "download_executable_source", "entrypoint", "env_set", "expose", "healthcheck",
                     "label", "maintainer", "run", "static_dockerfile", "user", "work_dir"});
  CHECK(Plugins().Find("run") != nullptr);
  CHECK(Plugins().Find("nope") == nullptr);
}

TEST_CASE("Add refuses a name that is taken") {
  auto registry = MakeBuiltinPluginRegistry();
  class Named final : public Plugin {
   public:
    explicit Named(std::string name) { schema_.name = std::move(name); }
    const PluginSchema& Schema() const override { return schema_; }
    Result<void> Validate(const PluginInstance&) const override { return {}; }
    Result<void> Render(const PluginInstance&, RenderContext&) const override { return {}; }

   private:
    PluginSchema schema_;
  };
  Result<void> r = registry->Add(std::make_unique<Named>("run"));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::kAlreadyExists);
  CHECK_THAT(r.error().message, Catch::Contains("run"));
  CHECK(registry->Add(std::make_unique<Named>("my_plugin")).has_value());
  CHECK(registry->Find("my_plugin") != nullptr);
}

TEST_CASE("unknown plugin: kUnknownPlugin naming it and its place") {
  Error e = ErrorOf(DockerfileType::kTool, {BaseImage(), Entry("run_all_the_things")});
  CHECK(e.code == Errc::kUnknownPlugin);
  CHECK(e.message == "unknown plugin: run_all_the_things (pipeline entry 2)");
}

TEST_CASE("unknown attribute: kInvalid naming plugin and attribute, listing the known ones") {
  Error e =
      ErrorOf(DockerfileType::kTool,
              {BaseImage(), Entry("env_set", {{"key", "A"}, {"value", "1"}, {"vaule", "x"}})});
  CHECK(e.code == Errc::kInvalid);
  CHECK(e.message == "env_set.vaule: unknown attribute (known: key, value) (pipeline entry 2)");
}

TEST_CASE("missing required attribute") {
  Error e = ErrorOf(DockerfileType::kTool, {BaseImage(), Entry("env_set", {{"key", "A"}})});
  CHECK(e.code == Errc::kInvalid);
  CHECK(e.message == "env_set.value: is required (pipeline entry 2)");
  CHECK_THAT(
      ErrorOf(DockerfileType::kTool, {BaseImage(), Entry("run", {{"value", List{}}})}).message,
      Catch::StartsWith("run.value: is required"));
  CHECK_THAT(ErrorOf(DockerfileType::kTool,
                     {Entry("base_image_choose_from_harbor", {{"handleInput", ""}})})
                 .message,
             Catch::StartsWith("base_image_choose_from_harbor.handleInput: is required"));
}

TEST_CASE("bad attribute value names the element") {
  Error e = ErrorOf(
      DockerfileType::kTool,
      {BaseImage(), Entry("env_set", {{"key", List{"A", "B C"}}, {"value", List{"1", "2"}}})});
  CHECK(e.code == Errc::kInvalid);
  CHECK(e.message == "env_set.key[1]: must match [A-Za-z_][A-Za-z0-9_]* (pipeline entry 2)");
}

TEST_CASE("paired lists must have the same length") {
  Error e = ErrorOf(DockerfileType::kTool,
                    {BaseImage(), Entry("env_set", {{"key", List{"A", "B"}}, {"value", "1"}})});
  CHECK(e.code == Errc::kInvalid);
  CHECK_THAT(e.message, Catch::StartsWith("env_set.value: has 1 values for 2 key entries"));
  // arg's values are optional, but when given they pair up too.
  CHECK(Plugins().Validate(DockerfileType::kTool, {BaseImage(), Entry("arg", {{"key", "A"}})}));
  CHECK_THAT(ErrorOf(DockerfileType::kTool,
                     {BaseImage(), Entry("arg", {{"key", List{"A", "B"}}, {"value", "1"}})})
                 .message,
             Catch::StartsWith("arg.value: has 1 values"));
}

TEST_CASE("choice attributes accept only their choices") {
  PluginInstance s = Source();
  s.attributes["source_type"] = "hg";
  Error e = ErrorOf(DockerfileType::kTool, {BaseImage(), s});
  CHECK(e.code == Errc::kInvalid);
  CHECK_THAT(e.message,
             Catch::StartsWith("download_executable_source.source_type: must be one of git, svn"));
}

TEST_CASE("normalization: a single string for a list attribute becomes a one-element array") {
  Result<Pipeline> r =
      Plugins().Validate(DockerfileType::kTool, {BaseImage(), Entry("run", {{"value", "make"}}),
                                                 Entry("expose", {{"port", "80"}}),
                                                 Entry("env_set", {{"key", "A"}, {"value", "1"}})});
  REQUIRE(r.has_value());
  CHECK(r->at(1).attributes.at("value") == AttributeValue(List{"make"}));
  CHECK(r->at(2).attributes.at("port") == AttributeValue(List{"80"}));
  CHECK(r->at(3).attributes.at("key") == AttributeValue(List{"A"}));
  CHECK(r->at(3).attributes.at("value") == AttributeValue(List{"1"}));
  CHECK(r->at(0).attributes.at("handleInput") ==
        AttributeValue(std::string("127.0.0.1:5000/base/busybox:1")));
  // Validating the normalized pipeline again changes nothing.
  CHECK(Plugins().Validate(DockerfileType::kTool, *r).value() == *r);
}

TEST_CASE("normalization: an array for a single attribute is kInvalid") {
  Error e = ErrorOf(DockerfileType::kTool,
                    {Entry("base_image_choose_from_harbor", {{"handleInput", List{"busybox"}}})});
  CHECK(e.code == Errc::kInvalid);
  CHECK(e.message ==
        "base_image_choose_from_harbor.handleInput: takes a single value, not a list of 1 "
        "(pipeline entry 1)");
  CHECK_THAT(ErrorOf(DockerfileType::kTool,
                     {BaseImage(), Entry("work_dir", {{"input_workDir", List{"/a", "/b"}}})})
                 .message,
             Catch::StartsWith("work_dir.input_workDir: takes a single value, not a list of 2"));
}

TEST_CASE("normalization keeps absent optional attributes absent and the plugin order") {
  Pipeline in = {Entry("run", {{"value", "a"}}), BaseImage(), Entry("run", {{"value", "b"}})};
  Result<Pipeline> r = Plugins().Validate(DockerfileType::kTool, in);
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 3);
  CHECK(r->at(0).plugin == "run");
  CHECK(r->at(1).plugin == "base_image_choose_from_harbor");
  CHECK(r->at(2).attributes.at("value") == AttributeValue(List{"b"}));
  Result<Pipeline> s = Plugins().Validate(DockerfileType::kTool, {BaseImage(), Source()});
  REQUIRE(s.has_value());
  CHECK_FALSE(s->at(1).attributes.contains("password"));
  CHECK_FALSE(s->at(1).attributes.contains("ref"));
}

TEST_CASE("pipeline rules: tool needs exactly one base image") {
  Error none = ErrorOf(DockerfileType::kTool, {Entry("run", {{"value", "make"}})});
  CHECK(none.code == Errc::kInvalid);
  CHECK(none.message ==
        "a pipeline of type tool needs exactly one base_image_choose_from_harbor entry (found 0)");
  CHECK(ErrorOf(DockerfileType::kTool, {}).code == Errc::kInvalid);
  Error two = ErrorOf(DockerfileType::kTool, {BaseImage(), BaseImage("busybox")});
  CHECK_THAT(two.message, Catch::Contains("(found 2)"));
}

TEST_CASE("pipeline rules: tool takes no static_dockerfile or download_dockerfile") {
  Error s = ErrorOf(DockerfileType::kTool, {BaseImage(), Static()});
  CHECK(s.code == Errc::kInvalid);
  CHECK(s.message ==
        "static_dockerfile is not allowed in a pipeline of type tool (pipeline entry 2)");
  Error d = ErrorOf(DockerfileType::kTool, {BaseImage(), Download()});
  CHECK(d.message ==
        "download_dockerfile is not allowed in a pipeline of type tool (pipeline entry 2)");
}

TEST_CASE("pipeline rules: edit takes exactly one static_dockerfile (and sources)") {
  CHECK(Plugins().Validate(DockerfileType::kEdit, {Static()}).has_value());
  CHECK(
      Plugins().Validate(DockerfileType::kEdit, {Source("a"), Static(), Source("b")}).has_value());
  CHECK_THAT(ErrorOf(DockerfileType::kEdit, {}).message,
             Catch::Contains("exactly one static_dockerfile entry (found 0)"));
  CHECK_THAT(ErrorOf(DockerfileType::kEdit, {Static(), Static()}).message,
             Catch::Contains("(found 2)"));
  Error run = ErrorOf(DockerfileType::kEdit, {Static(), Entry("run", {{"value", "x"}})});
  CHECK(run.message == "run is not allowed in a pipeline of type edit (pipeline entry 2)");
  CHECK(ErrorOf(DockerfileType::kEdit, {BaseImage(), Static()}).code == Errc::kInvalid);
}

TEST_CASE("pipeline rules: download takes exactly one download_dockerfile and nothing else") {
  CHECK(Plugins().Validate(DockerfileType::kDownload, {Download()}).has_value());
  CHECK_THAT(ErrorOf(DockerfileType::kDownload, {}).message,
             Catch::Contains("exactly one download_dockerfile entry (found 0)"));
  CHECK_THAT(ErrorOf(DockerfileType::kDownload, {Download(), Download()}).message,
             Catch::Contains("(found 2)"));
  CHECK(ErrorOf(DockerfileType::kDownload, {Download(), Source()}).code == Errc::kInvalid);
  CHECK(ErrorOf(DockerfileType::kDownload, {Static()}).code == Errc::kInvalid);
}

TEST_CASE("two sources may not check out into the same or nested folders, however spelled") {
  CHECK(Plugins().Validate(DockerfileType::kTool, {BaseImage(), Source("a"), Source("b")}));
  CHECK(Plugins().Validate(DockerfileType::kTool, {BaseImage(), Source("a"), Source("ab")}));
  for (auto [first, second] : std::vector<std::pair<std::string, std::string>>{
           {"a", "a"}, {"a", "a/b"}, {"a/b/", "a"}, {"a", "a//sub"}, {"a", "a/sub/"},
           {"a//b", "a/b/c"}, {"a/sub/x", "a///"}}) {
    INFO(first << " " << second);
    Error e = ErrorOf(DockerfileType::kTool, {BaseImage(), Source(first), Source(second)});
    CHECK(e.code == Errc::kInvalid);
    CHECK_THAT(e.message, Catch::StartsWith("download_executable_source.checkoutAs: \""));
    CHECK_THAT(e.message, Catch::Contains("of pipeline entry 2: two checkouts may not share a "
                                          "folder or nest (pipeline entry 3)"));
  }
  // A '.' or '..' component is refused by itself, before any comparison.
  for (const char* bad : {".", "./a", "a/.", "a/./b", "a/..", "a/../b"}) {
    INFO(bad);
    Error e = ErrorOf(DockerfileType::kTool, {BaseImage(), Source("x"), Source(bad)});
    CHECK(e.code == Errc::kInvalid);
    CHECK_THAT(e.message, Catch::StartsWith("download_executable_source.checkoutAs: "));
    CHECK_THAT(e.message, Catch::EndsWith("(pipeline entry 3)"));
  }
  // The rendered source carries the normalized folder, as the build uses it.
  auto rendered = Plugins().Render(DockerfileType::kTool, {BaseImage(), Source("a//b/")});
  REQUIRE(rendered);
  REQUIRE(rendered->sources.size() == 1);
  CHECK(rendered->sources[0].checkout_as == "a/b");
  CHECK_THAT(rendered->text, Catch::Contains("COPY [\"a/b\", \"/src\"]"));
}

TEST_CASE("dockerfilePath follows the checkout path rule") {
  for (const char* bad : {"./Dockerfile", "docker/./Dockerfile", "../Dockerfile", "/Dockerfile"}) {
    INFO(bad);
    PluginInstance d = Download();
    d.attributes["dockerfilePath"] = std::string(bad);
    Error e = ErrorOf(DockerfileType::kDownload, {d});
    CHECK(e.code == Errc::kInvalid);
    CHECK_THAT(e.message, Catch::StartsWith("download_dockerfile.dockerfilePath: "));
  }
  PluginInstance d = Download();
  d.attributes["dockerfilePath"] = std::string("docker//Dockerfile");
  auto rendered = Plugins().Render(DockerfileType::kDownload, {d});
  REQUIRE(rendered);
  CHECK(rendered->dockerfile_path == "docker/Dockerfile");
}

TEST_CASE("ssh sources are refused at save unless the server allows them") {
  auto allowing = MakeBuiltinPluginRegistry({.allow_ssh = true});
  for (const char* url : {"ssh://git@git.example.com:2222/team/app.git",
                          "git@git.example.com:team/app.git", "git.example.com:team/app.git"}) {
    INFO(url);
    PluginInstance s = Source("src");
    s.attributes["source_url"] = std::string(url);
    Error e = ErrorOf(DockerfileType::kTool, {BaseImage(), s});
    CHECK(e.code == Errc::kInvalid);
    CHECK_THAT(e.message, Catch::StartsWith("download_executable_source.source_url: "));
    CHECK_THAT(e.message, Catch::Contains("ssh sources are disabled (ssh-sources)"));
    CHECK(allowing->Validate(DockerfileType::kTool, {BaseImage(), s}));
  }
  PluginInstance d = Download();
  d.attributes["sourceType"] = std::string("svn");
  d.attributes["sourceUrl"] = std::string("svn+ssh://svn.example.com/repo");
  CHECK_THAT(ErrorOf(DockerfileType::kDownload, {d}).message,
             Catch::StartsWith("download_dockerfile.sourceUrl: is an ssh source"));
  CHECK(allowing->Validate(DockerfileType::kDownload, {d}));
}

TEST_CASE("attribute-specific rules with their messages") {
  auto message = [](PluginInstance e) {
    return ErrorOf(DockerfileType::kTool, {BaseImage(), std::move(e)}).message;
  };
  CHECK(message(Entry("expose", {{"port", List{"80", "70000"}}})) ==
        "expose.port[1]: must be a port number 1-65535 with an optional /tcp or /udp "
        "(pipeline entry 2)");
  CHECK(message(Entry("work_dir", {{"input_workDir", "app"}})) ==
        "work_dir.input_workDir: must be an absolute path (starting with /) (pipeline entry 2)");
  CHECK(message(Entry("copy", {{"key", "../x"}, {"value", "/x"}})) ==
        "copy.key[0]: must stay inside the build context ('..' is not allowed) (pipeline entry 2)");
  CHECK(message(Entry("copy", {{"key", "/x"}, {"value", "/x"}})) ==
        "copy.key[0]: must be relative to the build context, not absolute (pipeline entry 2)");
  CHECK_THAT(message(Entry("entrypoint", {{"input_entrypoint", "a 'b"}})),
             Catch::StartsWith("entrypoint.input_entrypoint: unbalanced single quote at offset 2"));
  CHECK_THAT(
      message(Entry("env_set", {{"key", "A"}, {"value", "a\nb"}})),
      Catch::StartsWith("env_set.value[0]: contains control character U+000A at byte offset 1"));
  CHECK_THAT(message(Entry("healthcheck", {{"cmd", "true"}, {"retries", "0"}})),
             Catch::StartsWith("healthcheck.retries: must be a whole number from 1 to 100"));
  CHECK_THAT(message(Entry("user", {{"input_user", "a b"}})),
             Catch::StartsWith("user.input_user: must be user[:group]"));
}

TEST_CASE("Render refuses what Validate refuses") {
  Result<RenderedDockerfile> r =
      Plugins().Render(DockerfileType::kTool, {Entry("run", {{"value", "make"}})});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::kInvalid);
  Result<RenderedDockerfile> u = Plugins().Render(DockerfileType::kTool, {BaseImage(), Entry("x")});
  REQUIRE_FALSE(u.has_value());
  CHECK(u.error().code == Errc::kUnknownPlugin);
}
