// The embedded page assets and the escaping of the project name into the page.
#include "web_assets.hpp"

#include <string>

#include <catch2/catch.hpp>

namespace {

using market::web::ConfigPageHtml;
using market::web::FindAsset;

TEST_CASE("static assets are found by URL path with their content types") {
  const auto* js = FindAsset("/static/app.js");
  REQUIRE(js != nullptr);
  CHECK(js->content_type == "text/javascript; charset=utf-8");
  CHECK(js->body.find("/api/project/save") != std::string_view::npos);

  const auto* css = FindAsset("/static/app.css");
  REQUIRE(css != nullptr);
  CHECK(css->content_type == "text/css; charset=utf-8");
  CHECK(css->body.find(".plugin-card") != std::string_view::npos);
}

TEST_CASE("unknown paths and the page template itself are not assets") {
  CHECK(FindAsset("/static/nope.js") == nullptr);
  CHECK(FindAsset("/static/config.html") == nullptr);
  CHECK(FindAsset("app.js") == nullptr);
  CHECK(FindAsset("/static/../static/app.js") == nullptr);
}

TEST_CASE("the page embeds a plain project name in markup and data") {
  std::string page = ConfigPageHtml("my-web.app_1");
  CHECK(page.find("<title>my-web.app_1 · Image Market</title>") != std::string::npos);
  CHECK(page.find(R"({"projectName": "my-web.app_1"})") != std::string::npos);
  CHECK(page.find("{{PROJECT_NAME") == std::string::npos);
  CHECK(page.find("/static/app.js") != std::string::npos);
}

TEST_CASE("a hostile project name is escaped in markup and inside the script") {
  std::string page = ConfigPageHtml(R"(</script><script>alert("x&y")</script>')");
  CHECK(page.find("<script>alert") == std::string::npos);
  CHECK(page.find("&lt;/script&gt;&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;") !=
        std::string::npos);
  CHECK(page.find(R"("\u003c/script\u003e\u003cscript\u003ealert(\"x\u0026y\")\u003c/script\u003e\u0027")") !=
        std::string::npos);
  // Exactly the two script elements of the template, nothing opened by the name.
  std::size_t scripts = 0;
  for (std::size_t pos = page.find("<script"); pos != std::string::npos; pos = page.find("<script", pos + 1)) {
    ++scripts;
  }
  CHECK(scripts == 2);
}

TEST_CASE("a name that looks like a placeholder is inserted literally, once") {
  std::string page = ConfigPageHtml("{{PROJECT_NAME_JSON}}");
  CHECK(page.find(R"({"projectName": "{{PROJECT_NAME_JSON}}"})") != std::string::npos);
  CHECK(page.find("<title>{{PROJECT_NAME_JSON}} · Image Market</title>") != std::string::npos);
}

TEST_CASE("line separators and invalid UTF-8 cannot break the data script") {
  std::string page = ConfigPageHtml("a\xe2\x80\xa8" "b\xff");
  CHECK(page.find(R"("a\u2028b\ufffd")") != std::string::npos);
}

}  // namespace
