// docs/openapi.yaml against the program: every route the server registers is described, every
// described path is served, each operation lists the refusals the server answers before its
// handler, errors have the route's shape, the schemas have the fields and nulls the server writes,
// and the description holds together ($refs resolve, codes match docs/api.md).

#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "api.hpp"
#include "json_codec.hpp"
#include "market/plugin_registry.hpp"
#include "market/plugin_schema_json.hpp"
#include "routes.hpp"
#include "web_assets.hpp"

#ifndef MARKET_SOURCE_DIR
#error "MARKET_SOURCE_DIR must name the source tree"
#endif

namespace market::server {
namespace {

const std::set<std::string> kMethods = {"get", "post", "put", "delete", "patch", "head", "options"};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "get /api/project/info"; a prefix route as "get /static/*".
std::set<std::string> RoutesOfServer() {
  Api api{ApiDependencies{}};
  std::set<std::string> out;
  for (const Route& route : MakeRoutes(api)) {
    out.insert(Lower(http::to_string(route.method)) + " " + route.path + (route.prefix ? "*" : ""));
  }
  return out;
}

// The spec's paths in the same shape: a path ending in a {parameter} is a prefix route when the
// parameter is declared `x-prefix: true` (it may contain slashes).
std::set<std::string> RoutesOfSpec(const YAML::Node& spec) {
  std::set<std::string> out;
  for (const auto& path : spec["paths"]) {
    std::string name = path.first.as<std::string>();
    std::string key = name;
    if (path.second["x-prefix"] && path.second["x-prefix"].as<bool>()) {
      key = name.substr(0, name.find('{')) + "*";
    }
    for (const auto& operation : path.second) {
      std::string method = operation.first.as<std::string>();
      if (kMethods.count(method) != 0) out.insert(method + " " + key);
    }
  }
  return out;
}

YAML::Node LoadSpec() {
  return YAML::LoadFile(std::string(MARKET_SOURCE_DIR) + "/docs/openapi.yaml");
}

// Walks every node, calling `visit` with each map entry's key and value.
void Walk(const YAML::Node& node, const std::function<void(const std::string&, const YAML::Node&)>& visit) {
  if (node.IsMap()) {
    for (const auto& entry : node) {
      visit(entry.first.as<std::string>(), entry.second);
      Walk(entry.second, visit);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) Walk(item, visit);
  }
}


// The node a local $ref names ("#/components/responses/Invalid"), or the node itself.
YAML::Node Resolve(const YAML::Node& spec, const YAML::Node& node) {
  if (!node.IsMap() || !node["$ref"]) return node;
  std::string ref = node["$ref"].as<std::string>();
  YAML::Node out = YAML::Clone(spec);
  std::istringstream parts(ref.substr(2));
  for (std::string part; std::getline(parts, part, '/');) out = out[part];
  return out;
}

// The spec's operation of a route. A prefix route is described as its prefix and one
// {parameter} (x-prefix): "/static/" as /static/{asset}, "/api/trigger/" as /api/trigger/{id}.
YAML::Node OperationOf(const YAML::Node& spec, const Route& route) {
  std::string path = route.path;
  if (route.prefix) {
    for (const auto& described : spec["paths"]) {
      const std::string name = described.first.as<std::string>();
      if (name.starts_with(route.path) && name.find('/', route.path.size()) == std::string::npos &&
          name.size() > route.path.size() && name[route.path.size()] == '{') {
        path = name;
      }
    }
  }
  return spec["paths"][path][Lower(http::to_string(route.method))];
}

// The name of the schema a response's JSON body refers to ("" when none).
std::string JsonSchemaName(const YAML::Node& response) {
  YAML::Node schema = response["content"]["application/json"]["schema"];
  if (!schema || !schema["$ref"]) return "";
  std::string ref = schema["$ref"].as<std::string>();
  return ref.substr(ref.rfind('/') + 1);
}

std::string JsonType(const nlohmann::json& value) {
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "boolean";
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  return "null";
}

// `value` (what the server writes) against an object schema: the same fields, each of the
// declared type, null only where the schema says nullable.
void CheckAgainstSchema(const nlohmann::json& value, const YAML::Node& schema,
                        const std::string& where) {
  INFO(where);
  REQUIRE(value.is_object());
  REQUIRE(schema["properties"]);
  std::set<std::string> declared;
  for (const auto& property : schema["properties"]) {
    std::string name = property.first.as<std::string>();
    declared.insert(name);
    INFO("field " << name);
    CHECK(value.contains(name));
    if (!value.contains(name)) continue;
    const YAML::Node& field = property.second;
    if (value[name].is_null()) {
      CHECK((field["nullable"] && field["nullable"].as<bool>()));
    } else if (field["type"]) {
      CHECK(JsonType(value[name]) == field["type"].as<std::string>());
    }
  }
  for (const auto& item : value.items()) {
    INFO("written but not in the schema: " << item.key());
    CHECK(declared.count(item.key()) == 1);
  }
}
}  // namespace

TEST_CASE("every registered route is in docs/openapi.yaml and every path there is served",
          "[openapi]") {
  YAML::Node spec = LoadSpec();
  REQUIRE(spec["openapi"].as<std::string>() == "3.0.3");
  std::set<std::string> served = RoutesOfServer();
  std::set<std::string> described = RoutesOfSpec(spec);
  for (const std::string& route : served) {
    INFO("served but not in docs/openapi.yaml: " << route);
    CHECK(described.count(route) == 1);
  }
  for (const std::string& route : described) {
    INFO("in docs/openapi.yaml but not served: " << route);
    CHECK(served.count(route) == 1);
  }
}

TEST_CASE("every operation in docs/openapi.yaml is complete", "[openapi]") {
  YAML::Node spec = LoadSpec();
  std::set<std::string> operation_ids;
  for (const auto& path : spec["paths"]) {
    for (const auto& operation : path.second) {
      std::string method = operation.first.as<std::string>();
      if (kMethods.count(method) == 0) continue;
      INFO(method << " " << path.first.as<std::string>());
      const YAML::Node& op = operation.second;
      REQUIRE(op["operationId"]);
      CHECK(operation_ids.insert(op["operationId"].as<std::string>()).second);  // unique
      CHECK(op["summary"]);
      REQUIRE(op["responses"]);
      REQUIRE(op["responses"].IsMap());
      CHECK(op["responses"].size() >= 1);
      for (const auto& response : op["responses"]) {
        INFO("response " << response.first.as<std::string>());
        bool is_ref = static_cast<bool>(response.second["$ref"]);
        CHECK((is_ref || response.second["description"]));
      }
    }
  }
}

TEST_CASE("every $ref in docs/openapi.yaml resolves", "[openapi]") {
  YAML::Node spec = LoadSpec();
  int refs = 0;
  Walk(spec, [&](const std::string& key, const YAML::Node& value) {
    if (key != "$ref") return;
    ++refs;
    std::string ref = value.as<std::string>();
    INFO("$ref: " << ref);
    REQUIRE(ref.starts_with("#/"));
    YAML::Node node = YAML::Clone(spec);
    std::istringstream parts(ref.substr(2));
    std::string part;
    while (std::getline(parts, part, '/')) {
      REQUIRE(node.IsMap());
      node = node[part];
      REQUIRE(node.IsDefined());
    }
  });
  CHECK(refs > 10);
}

TEST_CASE("docs/openapi.yaml knows every return code of docs/api.md with its HTTP status",
          "[openapi]") {
  YAML::Node spec = LoadSpec();
  YAML::Node codes = spec["components"]["schemas"]["Code"];
  REQUIRE(codes["enum"]);
  std::set<int> in_spec;
  for (const auto& code : codes["enum"]) in_spec.insert(code.as<int>());
  REQUIRE(codes["x-http-status"]);

  std::ifstream in(std::string(MARKET_SOURCE_DIR) + "/docs/api.md");
  REQUIRE(in);
  std::regex row(R"(^\| (\d{5}) \| (\d{3}) \|)");
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    std::smatch match;
    if (!std::regex_search(line, match, row)) continue;
    ++rows;
    int code = std::stoi(match[1]);
    INFO("code " << code);
    CHECK(in_spec.count(code) == 1);
    REQUIRE(codes["x-http-status"][code]);
    CHECK(codes["x-http-status"][code].as<int>() == std::stoi(match[2]));
  }
  CHECK(rows >= 20);
  CHECK(static_cast<int>(in_spec.size()) == rows);
}

TEST_CASE("every operation lists the refusals the server answers before its handler",
          "[openapi]") {
  YAML::Node spec = LoadSpec();
  Api api{ApiDependencies{}};
  int checked = 0;
  for (const Route& route : MakeRoutes(api)) {
    std::string method = Lower(http::to_string(route.method));
    INFO(method << " " << route.path);
    YAML::Node operation = OperationOf(spec, route);
    REQUIRE(operation);
    std::set<std::string> listed;
    for (const auto& response : operation["responses"]) {
      listed.insert(response.first.as<std::string>());
    }
    std::set<std::string> expected = {"431"};  // headers over the limit: any request
    // A Host the server does not answer for; the probes answer any Host.
    if (route.path != "/healthz" && route.path != "/readyz" && route.path != "/metrics") {
      expected.insert("421");
    }
    if (route.access != Access::kPublic) expected.insert({"401", "429"});
    if (!route.access.Admits(Role::kViewer)) expected.insert("403");  // the role
    if (route.method != http::verb::get) expected.insert({"403", "413"});  // other sites; bodies
    for (const std::string& status : expected) {
      INFO("status " << status);
      CHECK(listed.count(status) == 1);
    }
    ++checked;
  }
  CHECK(checked >= 25);
}

TEST_CASE("every error in docs/openapi.yaml has its route's shape", "[openapi]") {
  YAML::Node spec = LoadSpec();
  Api api{ApiDependencies{}};
  int seed_routes = 0;
  for (const Route& route : MakeRoutes(api)) {
    INFO(http::to_string(route.method) << " " << route.path);
    bool seed = route.error_shape == ErrorShape::kSeedCodeMsg;
    seed_routes += seed ? 1 : 0;
    for (const auto& entry : OperationOf(spec, route)["responses"]) {
      int status = std::stoi(entry.first.as<std::string>());
      if (status < 400) continue;
      INFO("status " << status);
      YAML::Node response = Resolve(spec, entry.second);
      if (!response["content"] || !response["content"]["application/json"]) continue;  // HTML
      std::string schema = JsonSchemaName(response);
      if (seed) {
        CHECK(schema == "SeedResult");
      } else if (status == 401 || status == 403 || status == 413 || status == 421 ||
                 status == 429 || status == 431) {
        CHECK(schema == "ErrorEnvelope");  // a refusal: the envelope's error
      } else {
        CHECK(schema != "SeedResult");  // the envelope, or the route's own (/readyz's 503)
      }
    }
  }
  CHECK(seed_routes == 2);  // DELETE /repositories and the seed's POST
}

TEST_CASE("docs/openapi.yaml gives the content types /static/ serves", "[openapi]") {
  YAML::Node spec = LoadSpec();
  YAML::Node content = spec["paths"]["/static/{asset}"]["get"]["responses"]["200"]["content"];
  REQUIRE(content);
  int assets = 0;
  const std::filesystem::path web = std::string(MARKET_SOURCE_DIR) + "/server/web";
  for (const auto& file : std::filesystem::recursive_directory_iterator(web)) {
    std::string name = file.path().lexically_relative(web).generic_string();  // "js/api.js" too
    if (!name.ends_with(".js") && !name.ends_with(".css")) continue;
    INFO("/static/" << name);
    const web::Asset* asset = web::FindAsset("/static/" + name);
    REQUIRE(asset != nullptr);
    std::string media_type(asset->content_type.substr(0, asset->content_type.find(';')));
    CHECK(content[media_type]);
    ++assets;
  }
  CHECK(assets >= 6);  // app.js, app.css and the modules under js/
}

TEST_CASE("the schemas have the fields and nulls the server writes", "[openapi]") {
  YAML::Node spec = LoadSpec();
  YAML::Node schemas = spec["components"]["schemas"];
  // On a distribution registry a project has no times and a tag may have no creation time.
  CheckAgainstSchema(RegistryProjectToJson(RegistryProject{}), schemas["RegistryProject"],
                     "RegistryProject");
  CheckAgainstSchema(RegistryTagToJson(RegistryTag{}), schemas["RegistryTag"], "RegistryTag");

  nlohmann::json plugins = SchemasToJson(*MakeBuiltinPluginRegistry());
  REQUIRE(plugins.size() >= 5);
  YAML::Node plugin_schema = schemas["PluginSchema"];
  YAML::Node attribute_schema = plugin_schema["properties"]["attributes"]["items"];
  std::set<std::string> kinds;
  for (const auto& kind : attribute_schema["properties"]["kind"]["enum"]) {
    kinds.insert(kind.as<std::string>());
  }
  for (const nlohmann::json& plugin : plugins) {
    std::string name = plugin["name"].get<std::string>();
    CheckAgainstSchema(plugin, plugin_schema, "plugin " + name);
    for (const nlohmann::json& attribute : plugin["attributes"]) {
      CheckAgainstSchema(attribute, attribute_schema,
                         "plugin " + name + " attribute " + attribute["name"].get<std::string>());
      CHECK(kinds.count(attribute["kind"].get<std::string>()) == 1);
    }
  }
}

TEST_CASE("audit targets in docs/openapi.yaml have the forms the server records", "[openapi]") {
  YAML::Node spec = LoadSpec();
  // project:NAME (projects and builds), user:NAME (users and tokens), registry:REPO:TAG.
  const std::regex kTarget(R"(^(project|user):[a-z0-9._-]+$|^registry:[a-z0-9._/-]+:[A-Za-z0-9_.-]+$)");
  std::string example =
      spec["components"]["schemas"]["AuditEntry"]["properties"]["target"]["example"]
          .as<std::string>();
  CHECK(std::regex_match(example, kTarget));
  int described = 0;
  for (const auto& parameter : spec["paths"]["/api/audit"]["get"]["parameters"]) {
    if (!parameter["name"] || parameter["name"].as<std::string>() != "target") continue;
    std::string text = parameter["description"].as<std::string>();
    const std::regex kQuoted("`([a-z]+:[^`]*)`");
    for (std::sregex_iterator it(text.begin(), text.end(), kQuoted), end; it != end; ++it) {
      std::string form = (*it)[1];
      INFO(form);
      CHECK(std::regex_match(form, std::regex(R"(^(project|user|registry):.*)")));
      ++described;
    }
  }
  CHECK(described == 3);
}

}  // namespace market::server
