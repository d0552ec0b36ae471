#pragma once
// `market-server --help`: the commands, then every key of the configuration table.

#include <string>

namespace market::server {

std::string ServerHelpText();

}  // namespace market::server
