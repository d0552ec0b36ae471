#pragma once
// The pipeline in the original's JSON shape:
// [{"$$plugin": "run", "value": ["echo 1"]}, {"$$plugin": "env_set", "key": ["A"], "value": ["1"]}]

#include <nlohmann/json.hpp>

#include "market/error.hpp"
#include "market/project.hpp"

namespace market {

nlohmann::json PipelineToJson(const Pipeline& pipeline);
// Each entry must be an object with a string "$$plugin"; attribute values are strings or
// arrays of strings (numbers and booleans are taken as their text). `field` names the
// parameter in error messages.
Result<Pipeline> PipelineFromJson(const nlohmann::json& json, std::string_view field = "$$plugin");

}  // namespace market
