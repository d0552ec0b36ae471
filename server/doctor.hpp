#pragma once
// `market-server doctor [settings]`: says whether this host can run builds as configured.

#include <cstdio>
#include <span>
#include <string>

namespace market::server {

bool IsDoctorCommand(std::span<const std::string> args);
// Prints each check and its outcome to `out`; 0 when builds can run, 1 when not, 2 for bad
// settings.
int RunDoctorCommand(std::span<const std::string> args, std::FILE* out, std::FILE* err);

}  // namespace market::server
