#pragma once
// What one build's RUN steps run in besides runc's own isolation: a network namespace whose
// only way out is slirp4netns, with routes that refuse this host, link-local ranges and the
// denied networks; and a cgroup that bounds the steps' processes and memory, so a step past a
// limit fails its build with a reason naming the limit.
//
// Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN): `ip netns add` and writable cgroups. Every
// name it makes is market-<server pid>-<n>, so RemoveStaleSandboxes can find what a killed
// server left behind.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "market/error.hpp"
#include "market/network_rules.hpp"

namespace market {

struct SandboxOptions {
  std::vector<IpRange> deny;      // besides AlwaysDeniedRanges and this host's addresses
  int pids = 0;                   // processes at once; 0: no limit
  std::int64_t memory_bytes = 0;  // 0: no limit
  std::string ip_path = "ip";
  std::string slirp_path = "slirp4netns";
};

class BuildSandbox {
 public:
  // kInternal with the step that failed ("ip netns add: ...", "slirp4netns exited: ...").
  static Result<BuildSandbox> Create(const SandboxOptions& options);
  BuildSandbox(BuildSandbox&& other) noexcept;
  BuildSandbox& operator=(BuildSandbox&&) = delete;
  BuildSandbox(const BuildSandbox&) = delete;
  ~BuildSandbox();  // stops slirp4netns, deletes the namespace and the cgroups

  // For `buildah bud`: --network ns:<this>.
  std::filesystem::path NetworkNamespace() const;
  // For `buildah bud --cgroup-parent`: every step's cgroup goes below the limited one. Empty
  // when there are no limits.
  std::string CgroupParent() const;
  // slirp4netns's DNS forwarder, the only DNS server a step is given.
  static constexpr const char* kDnsServer = "10.0.2.3";
  // After a failed step: which limit the steps reached ("a RUN step reached build-pids: 4096
  // processes"), or empty.
  std::string LimitReached() const;
  // The routes refused in the namespace, for the build log.
  const std::vector<std::string>& Refused() const { return refused_; }

 private:
  struct Parts;
  explicit BuildSandbox(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
  std::vector<std::string> refused_;
};

// Removes namespaces and cgroups named market-<pid>-* whose server process is gone.
void RemoveStaleSandboxes(const SandboxOptions& options);

}  // namespace market
