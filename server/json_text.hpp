#pragma once
// Compact JSON text of a value, byte for byte what nlohmann's
// dump(-1, ' ', false, error_handler_t::replace) writes, but without its per-character work for
// the plain strings that make up nearly every response: they are copied whole. Anything else
// (escapes, non-ASCII, floating point) is written by nlohmann itself.

#include <string>

#include <nlohmann/json.hpp>

namespace market::server {

std::string JsonText(const nlohmann::json& value);

}  // namespace market::server
