#pragma once
// Compact JSON text of a value, byte for byte what nlohmann's
// dump(-1, ' ', false, error_handler_t::replace) writes, but without its per-character work for
// the plain strings that make up nearly every response: they are copied whole. Anything else
// (escapes, non-ASCII, floating point) is written by nlohmann itself.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace market::server {

std::string JsonText(const nlohmann::json& value);

// The pieces, for writers of a fixed shape that skip building the value (JsonText's bytes).
void AppendJsonString(std::string_view text, std::string& out);
void AppendJsonInteger(std::int64_t number, std::string& out);

}  // namespace market::server
