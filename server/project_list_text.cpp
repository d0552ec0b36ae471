#include "project_list_text.hpp"

#include "json_codec.hpp"
#include "json_text.hpp"
#include "market/error.hpp"
#include "market/time.hpp"

namespace market::server {

std::string ProjectListText(const ProjectListing& listing) {
  std::string out;
  out.reserve(128 + listing.page.projects.size() * 256);
  out += "{\"code\":";
  AppendJsonInteger(static_cast<int>(Errc::kOk), out);
  out += ",\"content\":[";
  bool first = true;
  for (const Project& project : listing.page.projects) {
    if (!first) out += ',';
    first = false;
    char before = '{';
    // The keys are plain ASCII names: no escaping needed.
    ForEachProjectField(project, [&](std::string_view key, std::string_view value) {
      out += before;
      before = ',';
      out += '"';
      out += key;
      out += "\":";
      AppendJsonString(value, out);
    });
    out += '}';
  }
  out += "],\"errMsg\":";
  AppendJsonString(DefaultMessage(Errc::kOk), out);
  out += ",\"page\":";
  AppendJsonInteger(listing.page_number, out);
  out += ",\"page_size\":";
  AppendJsonInteger(listing.page_size, out);
  out += ",\"total_count\":";
  AppendJsonInteger(listing.page.total_count, out);
  out += '}';
  return out;
}

}  // namespace market::server
