// Extension methods: BaseImageList over a FakeRegistry, and the default for other plugins.
#include <catch2/catch.hpp>

#include "market/plugin_registry.hpp"
#include "market/testing/fake_registry.hpp"

using namespace market;
using namespace market::testing;

namespace {

const Plugin& BaseImagePlugin() {
  static const auto registry = MakeBuiltinPluginRegistry();
  const Plugin* plugin = registry->Find("base_image_choose_from_harbor");
  REQUIRE(plugin != nullptr);
  return *plugin;
}

}  // namespace

TEST_CASE("BaseImageList lists every tag of every repository of the base project, sorted") {
  FakeRegistry registry("harbor.example.com");
  registry.AddTag("base/centos", "7", "sha256:c7");
  registry.AddTag("base/centos", "8", "sha256:c8");
  registry.AddTag("base/busybox", "1", "sha256:b1");
  registry.AddTag("base/tools/jdk", "17", "sha256:j17");
  registry.AddRepository("base/empty");
  registry.AddTag("apps/web", "1", "sha256:w1");  // another project: not offered
  registry.AddProject("baseline");                // a project whose name contains "base"
  registry.AddTag("baseline/x", "1", "sha256:x1");

  auto r = BaseImagePlugin().CallExtension("BaseImageList", {}, ExtensionContext{&registry});
  REQUIRE(r.has_value());
  CHECK(*r == nlohmann::json(
                  {"harbor.example.com/base/busybox:1", "harbor.example.com/base/centos:7",
                   "harbor.example.com/base/centos:8", "harbor.example.com/base/tools/jdk:17"}));
}

TEST_CASE("BaseImageList pages through more than one page of repositories and tags") {
  FakeRegistry registry("reg:5000");
  for (int i = 0; i < 130; ++i) registry.AddTag("base/many", "t" + std::to_string(1000 + i), "d");
  for (int i = 0; i < 105; ++i) registry.AddTag("base/r" + std::to_string(100 + i), "1", "d");
  auto r = BaseImagePlugin().CallExtension("BaseImageList", {}, ExtensionContext{&registry});
  REQUIRE(r.has_value());
  CHECK(r->size() == 235);
  CHECK(r->front() == "reg:5000/base/many:t1000");
  CHECK(registry.Calls("ListRepositories") == 2);
  CHECK(registry.Calls("ListTags") == 105 + 2);
}

TEST_CASE("BaseImageList passes the query on as a repository filter") {
  FakeRegistry registry("reg");
  registry.AddTag("base/centos", "7", "d");
  registry.AddTag("base/busybox", "1", "d");
  auto r = BaseImagePlugin().CallExtension("BaseImageList", {{"query", "cent"}},
                                           ExtensionContext{&registry});
  REQUIRE(r.has_value());
  CHECK(*r == nlohmann::json({"reg/base/centos:7"}));
  auto bad = BaseImagePlugin().CallExtension("BaseImageList", {{"query", "a\nb"}},
                                             ExtensionContext{&registry});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == Errc::kExtensionBadParams);
}

TEST_CASE("BaseImageList without a base project is an empty list") {
  FakeRegistry registry;
  registry.AddTag("apps/web", "1", "d");
  auto r = BaseImagePlugin().CallExtension("BaseImageList", {}, ExtensionContext{&registry});
  REQUIRE(r.has_value());
  CHECK(*r == nlohmann::json::array());
}

TEST_CASE("BaseImageList without a registry: kExtensionCallFailed") {
  auto r = BaseImagePlugin().CallExtension("BaseImageList", {}, ExtensionContext{});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::kExtensionCallFailed);
  CHECK(r.error().message == "no registry configured");
}

TEST_CASE("BaseImageList when the registry fails: kExtensionCallFailed with the reason") {
  FakeRegistry registry;
  registry.AddTag("base/centos", "7", "d");
  for (const char* method : {"ListProjects", "ListRepositories", "ListTags"}) {
    INFO(method);
    registry.SetFailure(Error{Errc::kUpstreamFailed, "harbor answered 503"}, method);
    auto r = BaseImagePlugin().CallExtension("BaseImageList", {}, ExtensionContext{&registry});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Errc::kExtensionCallFailed);
    CHECK(r.error().message == "registry: harbor answered 503");
  }
  registry.ClearFailure();
  CHECK(BaseImagePlugin().CallExtension("BaseImageList", {}, ExtensionContext{&registry}));
}

TEST_CASE("unknown extension methods: kExtensionBadParams naming the method") {
  FakeRegistry registry;
  auto r = BaseImagePlugin().CallExtension("DropTables", {}, ExtensionContext{&registry});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Errc::kExtensionBadParams);
  CHECK(r.error().message == "unknown method: DropTables");
  auto registry_of_plugins = MakeBuiltinPluginRegistry();
  auto d = registry_of_plugins->Find("run")->CallExtension("BaseImageList", {}, ExtensionContext{});
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().code == Errc::kExtensionBadParams);
  CHECK(d.error().message == "unknown method: BaseImageList");
}

TEST_CASE("FakeRegistry: paging, deletes by digest, untag, failures") {
  FakeRegistry registry;
  registry.AddTag("p/r", "a", "sha256:1");
  registry.AddTag("p/r", "b", "sha256:1");
  registry.AddTag("p/r", "c", "sha256:2");
  auto page = registry.ListTags("p/r", RegistryPage{2, 2});
  REQUIRE(page.has_value());
  CHECK(page->total_count == 3);
  REQUIRE(page->items.size() == 1);
  CHECK(page->items[0].name == "c");
  CHECK(registry.GetManifest("p/r", "sha256:2")->digest == "sha256:2");
  CHECK(registry.GetManifest("p/r", "zzz").error().code == Errc::kNotFound);
  CHECK(registry.ListTags("p/none", {}).error().code == Errc::kNotFound);
  CHECK(registry.ListRepositories(999, "", {}).error().code == Errc::kNotFound);
  CHECK(registry.DeleteTag("p/r", "a", false).error().code == Errc::kTagShared);
  REQUIRE(registry.DeleteTag("p/r", "a", true).has_value());
  CHECK(registry.TagNames("p/r") == std::vector<std::string>{"c"});
  registry.SetUntagSupported(true);
  registry.AddTag("p/r", "d", "sha256:2");
  REQUIRE(registry.DeleteTag("p/r", "c", false).has_value());
  CHECK(registry.TagNames("p/r") == std::vector<std::string>{"d"});
  registry.SetDeletesEnabled(false);
  CHECK(registry.DeleteTag("p/r", "d", false).error().code == Errc::kRegistryUnsupported);
  REQUIRE(registry.EnsureProject("newproj").has_value());
  CHECK(registry.ListProjects("newproj", {})->total_count == 1);
  registry.SetFailure(Error{Errc::kUpstreamTimeout, "slow"});
  CHECK(registry.Ping().error().code == Errc::kUpstreamTimeout);
  CHECK(registry.Calls("Ping") == 1);
}
