#pragma once
// `market-server user ...` and `market-server token ...`: managing users and API tokens on the
// database the server uses (the same --database / --config / MARKET_* settings), e.g. to create
// the first admin before the server is reachable.

#include <cstdio>
#include <span>
#include <string>

#include "config.hpp"

namespace market::server {

// Whether `args` (without the program name) start with one of these commands.
bool IsIdentityCommand(std::span<const std::string> args);

// Runs the command; the exit status: 0 done, 1 failed (message on `err`), 2 bad usage.
// Passwords are read from `in` (one line; with a terminal, prompted twice without echo), never
// from arguments. A created token is printed once on `out`, alone on its line.
int RunIdentityCommand(std::span<const std::string> args, const EnvLookup& env, std::FILE* in,
                       std::FILE* out, std::FILE* err);

}  // namespace market::server
