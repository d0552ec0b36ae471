#include "web_assets.hpp"

#include <cstddef>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace market::web {
namespace generated {
struct EmbeddedFile {
  const char* name;
  const unsigned char* data;
  std::size_t size;
};
extern const EmbeddedFile kFiles[];
extern const std::size_t kFileCount;
}  // namespace generated

namespace {

constexpr std::string_view kPageTemplate = "config.html";
constexpr std::string_view kConsolePage = "console.html";
constexpr std::string_view kStaticPrefix = "/static/";

std::string_view Body(const generated::EmbeddedFile& file) {
  return {reinterpret_cast<const char*>(file.data), file.size};
}

std::string_view ContentTypeOf(std::string_view name) {
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// Every embedded file except the page template, keyed by its URL path.
const std::map<std::string, Asset, std::less<>>& StaticAssets() {
  static const auto* const assets = [] {
    auto* map = new std::map<std::string, Asset, std::less<>>();
    for (std::size_t i = 0; i < generated::kFileCount; ++i) {
      const auto& file = generated::kFiles[i];
      std::string_view name = file.name;
      if (name.ends_with(".html")) continue;  // pages have routes of their own
      map->emplace(std::string(kStaticPrefix) + std::string(name),
                   Asset{ContentTypeOf(name), Body(file)});
    }
    return map;
  }();
  return *assets;
}

std::string_view EmbeddedPage(std::string_view name) {
  for (std::size_t i = 0; i < generated::kFileCount; ++i) {
    if (generated::kFiles[i].name == name) return Body(generated::kFiles[i]);
  }
  return {};
}


// A JSON string literal that is safe inside <script>: no "</script>", no "<!--", no raw
// U+2028/U+2029 (ensure_ascii), and invalid UTF-8 replaced rather than thrown on.
std::string ScriptSafeJsonString(std::string_view text) {
  std::string json = nlohmann::json(std::string(text))
                         .dump(-1, ' ', /*ensure_ascii=*/true,
                               nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      case '\'': out += "\\u0027"; break;
      default: out += c;
    }
  }
  return out;
}

// One pass over the template, so that text inserted for one placeholder is never scanned
// for another (a name may itself look like a placeholder).
std::string FillTemplate(std::string_view page, std::string_view html_name,
                         std::string_view json_name) {
  static constexpr std::string_view kHtml = "{{PROJECT_NAME_HTML}}";
  static constexpr std::string_view kJson = "{{PROJECT_NAME_JSON}}";
  std::string out;
  out.reserve(page.size() + 4 * (html_name.size() + json_name.size()));
  std::size_t pos = 0;
  while (pos < page.size()) {
    std::size_t open = page.find("{{", pos);
    if (open == std::string_view::npos) break;
    out.append(page.substr(pos, open - pos));
    std::string_view rest = page.substr(open);
    if (rest.starts_with(kHtml)) {
      out.append(html_name);
      pos = open + kHtml.size();
    } else if (rest.starts_with(kJson)) {
      out.append(json_name);
      pos = open + kJson.size();
    } else {
      out.append("{{");
      pos = open + 2;
    }
  }
  if (pos < page.size()) out.append(page.substr(pos));
  return out;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const Asset* FindAsset(std::string_view path) {
  const auto& assets = StaticAssets();
  auto it = assets.find(path);
  return it == assets.end() ? nullptr : &it->second;
}

std::string_view ConsolePageHtml() { return EmbeddedPage(kConsolePage); }

std::string ConfigPageHtml(std::string_view project_name) {
  return FillTemplate(EmbeddedPage(kPageTemplate), HtmlEscape(project_name),
                      ScriptSafeJsonString(project_name));
}

}  // namespace market::web
