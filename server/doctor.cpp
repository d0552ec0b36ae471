#include "doctor.hpp"

#include <fmt/format.h>

#include "app.hpp"
#include "config.hpp"

namespace market::server {

bool IsDoctorCommand(std::span<const std::string> args) {
  return !args.empty() && args[0] == "doctor";
}

int RunDoctorCommand(std::span<const std::string> args, std::FILE* out, std::FILE* err) {
  auto outcome = LoadConfig(args.subspan(1), ProcessEnv());
  if (!outcome) {
    fmt::print(err, "market-server: {}\n", outcome.error().message);
    return 2;
  }
  const ServerConfig& config = outcome->config;
  BuildahOptions buildah = BuildahOptionsOf(config);
  auto storage = ChooseBuilderStorage(config, buildah);
  if (!storage) {
    fmt::print(out, "FAIL: {}\nbuilds would be refused until this is fixed (docs/ops.md)\n",
               storage.error().message);
    return 1;
  }
  fmt::print(out, "build-storage-driver: {}{}\n", storage->name,
             storage->reason.empty() ? "" : " (" + storage->reason + ")");
  fmt::print(out, "build-isolation: {}\n", config.build_isolation);
  if (config.build_isolation == "chroot") {
    fmt::print(out,
               "warning: RUN steps share this host's network and reach its loopback services\n");
  } else {
    fmt::print(out, "limits: memory {} bytes, {} processes, {} CPUs (0: none)\n",
               config.build_memory_bytes, config.build_pids, config.build_cpus);
  }
  if (auto ok = CheckBuildahSandbox(buildah); !ok) {
    fmt::print(out, "FAIL: {}\nbuilds would be refused until this is fixed (docs/ops.md)\n",
               ok.error().message);
    return 1;
  }
  fmt::print(out, "ok: builds can run here{}\n",
             config.build_isolation == "oci"
                 ? " (a build network and its cgroups were made and removed)"
                 : "");
  return 0;
}

}  // namespace market::server
