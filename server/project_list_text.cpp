#include "project_list_text.hpp"

#include "json_text.hpp"
#include "market/error.hpp"
#include "market/time.hpp"

namespace market::server {

namespace {

// `key`: the key with its quotes, colon and any comma before it.
void Field(std::string_view key, std::string_view value, std::string& out) {
  out += key;
  AppendJsonString(value, out);
}

}  // namespace

std::string ProjectListText(const ProjectListing& listing) {
  std::string out;
  out.reserve(128 + listing.page.projects.size() * 256);
  out += "{\"code\":";
  AppendJsonInteger(static_cast<int>(Errc::kOk), out);
  out += ",\"content\":[";
  bool first = true;
  // Keys in the order nlohmann's object (a std::map) writes them: byte order.
  for (const Project& project : listing.page.projects) {
    if (!first) out += ',';
    first = false;
    Field("{\"Cluster\":", project.cluster, out);
    Field(",\"DefineDockerFileType\":", ToString(project.define_type), out);
    Field(",\"createTime\":", FormatIso8601(project.create_time), out);
    Field(",\"creator\":", project.creator, out);
    Field(",\"lastModifyOperator\":", project.last_modify_operator, out);
    Field(",\"lastModifyTime\":", FormatIso8601(project.last_modify_time), out);
    Field(",\"name\":", project.name, out);
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
