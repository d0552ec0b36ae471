#pragma once
// The web pages and their static files, embedded in the binary at build time.

#include <string>
#include <string_view>

namespace market::web {

struct Asset {
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path` (like "/static/app.js"), or nullptr when there is none.
const Asset* FindAsset(std::string_view path);

// `text` with & < > " ' as entities: safe in HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

// The console (/): a page without data; its script asks the API for everything it shows.
std::string_view ConsolePageHtml();

// The configuration page of `project_name`, with the name embedded safely: HTML-escaped in
// the markup and JSON-escaped (with <, >, & escaped too) inside the page's data script.
std::string ConfigPageHtml(std::string_view project_name);

}  // namespace market::web
