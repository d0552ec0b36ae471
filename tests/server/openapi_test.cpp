// docs/openapi.yaml against the route table: every route the server registers is described, every
// described path is served, and the description holds together ($refs resolve, codes match
// docs/api.md).

#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "api.hpp"
#include "routes.hpp"

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

}  // namespace market::server
