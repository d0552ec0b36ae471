#include "buildah/build_sandbox.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "log.hpp"
#include "process/process.hpp"

namespace market {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "market-";
constexpr const char* kNetnsDir = "/run/netns";
// slirp4netns's fixed addresses: the gateway 10.0.2.2 is the host's loopback unless refused.
constexpr const char* kSlirpGateway = "10.0.2.2/32";

std::atomic<std::uint64_t> next_sandbox{0};

// Runs a short helper command (ip) to its end; its stderr becomes the error.
Result<std::string> RunQuick(std::vector<std::string> argv,
                             std::optional<std::string> input = std::nullopt) {
  process::Spec spec;
  spec.argv = std::move(argv);
  spec.stdin_data = std::move(input);
  spec.timeout = std::chrono::seconds(20);
  std::string errors;
  auto captured = process::RunCapture(
      spec, [&](std::string_view line) { errors.append(line).push_back(' '); }, {});
  if (!captured) return std::unexpected(captured.error());
  if (!captured->outcome.Succeeded()) {
    std::string command;
    for (std::size_t i = 0; i < spec.argv.size() && i < 4; ++i) {
      command += (i == 0 ? "" : " ") + spec.argv[i];
    }
    return Fail(Errc::kInternal, fmt::format("{}: {}{}", command, captured->outcome.Describe(),
                                             errors.empty() ? "" : ": " + errors));
  }
  return captured->output;
}

std::optional<std::string> ReadText(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<void> WriteText(const fs::path& path, std::string_view text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) {
    return Fail(Errc::kInternal, fmt::format("cannot write {} to {}: {}", text, path.string(),
                                             std::strerror(errno)));
  }
  return {};
}

// This process's own cgroup folder holding `controller` ("pids", "memory"): cgroup v1's
// hierarchy of that controller, else the unified (v2) one. nullopt when there is none.
struct OwnCgroup {
  fs::path dir;
  bool v2 = false;
};
std::optional<OwnCgroup> FindOwnCgroup(std::string_view controller) {
  auto self = ReadText("/proc/self/cgroup");
  auto mounts = ReadText("/proc/self/mountinfo");
  if (!self || !mounts) return std::nullopt;
  std::string v1_path, v2_path;
  bool has_v2 = false;
  std::istringstream lines(*self);
  for (std::string line; std::getline(lines, line);) {
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty() && line.substr(0, first) == "0") {
      has_v2 = true;
      v2_path = path;
    }
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');) {
      if (name == controller) v1_path = path;
    }
  }
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTIONS
  std::istringstream mount_lines(*mounts);
  for (std::string line; std::getline(mount_lines, line);) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 3 > f.end()) continue;
    const std::string& root = f[3];
    const std::string& point = f[4];
    const std::string& type = *(dash + 1);
    const std::string& options = *(dash + 3);
    auto relative = [&](const std::string& path) {
      std::string rest = path;
      if (root != "/" && rest.starts_with(root)) rest = rest.substr(root.size());
      return fs::path(point) / fs::path(rest).relative_path();
    };
    if (!v1_path.empty() && type == "cgroup") {
      std::istringstream opts(options);
      for (std::string o; std::getline(opts, o, ',');) {
        if (o == controller) return OwnCgroup{relative(v1_path), false};
      }
    }
    if (v1_path.empty() && has_v2 && type == "cgroup2") return OwnCgroup{relative(v2_path), true};
  }
  return std::nullopt;
}

// cgroup v2 lets a cgroup enable a controller for its children only while it holds no process
// itself (the root excepted). So the server moves itself into a leaf of its own,
// "market-server", once; builds' cgroups are made beside that leaf. Returns where they go.
Result<fs::path> DelegateV2(fs::path own, std::string_view controller) {
  if (own.filename() == "market-server") own = own.parent_path();
  const std::string enable = fmt::format("+{}", controller);
  if (WriteText(own / "cgroup.subtree_control", enable)) return own;
  std::error_code ec;
  fs::create_directory(own / "market-server", ec);
  if (ec) return Fail(Errc::kInternal, ec.message());
  MARKET_RETURN_IF_ERROR(
      WriteText(own / "market-server" / "cgroup.procs", std::to_string(::getpid())));
  MARKET_RETURN_IF_ERROR(WriteText(own / "cgroup.subtree_control", enable));
  return own;
}

// Removes a cgroup folder and the (empty) step folders runc left below it.
void RemoveCgroup(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec)) children.push_back(entry.path());
  }
  for (const auto& child : children) RemoveCgroup(child);
  ::rmdir(dir.c_str());
}

// A counter "NAME N" in a cgroup file; 0 when absent.
std::int64_t Counter(const std::string& text, std::string_view name) {
  std::istringstream lines(text);
  for (std::string key; lines >> key;) {
    std::int64_t value = 0;
    if (!(lines >> value)) break;
    if (key == name) return value;
  }
  return 0;
}

std::int64_t Number(const fs::path& file) {
  auto text = ReadText(file);
  return text ? std::atoll(text->c_str()) : 0;
}

// "market-<pid>-<n>" of a process that is gone.
bool IsStale(std::string_view name) {
  if (!name.starts_with(kPrefix)) return false;
  std::string_view rest = name.substr(kPrefix.size());
  int pid = 0;
  auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
  if (ec != std::errc() || ptr == rest.data() || ptr == rest.data() + rest.size() || *ptr != '-') {
    return false;
  }
  return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

struct BuildSandbox::Parts {
  SandboxOptions options;
  std::string name;
  bool netns = false;
  std::optional<process::BackgroundChild> slirp;
  std::vector<fs::path> cgroups;  // made for this build, removed with it
  std::optional<fs::path> pids_cgroup;
  std::optional<fs::path> memory_cgroup;
  bool memory_v2 = false;

  ~Parts() {
    slirp.reset();
    if (netns) {
      if (auto ok = RunQuick({options.ip_path, "netns", "delete", name}); !ok) {
        MARKET_LOG_WARN("removing the build network {} failed: {}", name, ok.error().message);
      }
    }
    for (const auto& dir : cgroups) RemoveCgroup(dir);
  }

  // This build's folder below this process's cgroup of `controller`, where `setting` applies.
  Result<OwnCgroup> MakeCgroup(std::string_view controller, std::string_view setting) {
    auto own = FindOwnCgroup(controller);
    if (!own) {
      return Fail(Errc::kInternal, fmt::format("{} cannot be applied: no {} cgroup is mounted",
                                               setting, controller));
    }
    if (own->v2) {
      auto base = DelegateV2(own->dir, controller);
      if (!base) {
        return Fail(
            Errc::kInternal,
            fmt::format("{} cannot be applied: the {} controller cannot be enabled below "
                        "{} ({}); delegate it (systemd: Delegate=pids memory) or set {} 0",
                        setting, controller, own->dir.string(), base.error().message, setting));
      }
      own->dir = *base;
    }
    fs::path dir = own->dir / name;
    std::error_code ec;
    if (std::find(cgroups.begin(), cgroups.end(), dir) == cgroups.end()) {
      fs::create_directory(dir, ec);
      if (ec) {
        return Fail(Errc::kInternal, fmt::format("{} cannot be applied: creating {}: {}", setting,
                                                 dir.string(), ec.message()));
      }
      cgroups.push_back(dir);
    }
    return OwnCgroup{dir, own->v2};
  }

  Result<fs::path> Limit(std::string_view controller, std::string_view setting,
                         std::string_view v1_file, std::string_view v2_file, std::string_view value,
                         bool* v2) {
    MARKET_ASSIGN_OR_RETURN(auto cgroup, MakeCgroup(controller, setting));
    if (v2 != nullptr) *v2 = cgroup.v2;
    if (auto ok = WriteText(cgroup.dir / (cgroup.v2 ? v2_file : v1_file), value); !ok) {
      return Fail(Errc::kInternal,
                  fmt::format("{} cannot be applied: {}", setting, ok.error().message));
    }
    return cgroup.dir;
  }

  // One `ip netns add`, then one `ip -batch` for the loopback and every refusing route (a
  // process per command cost a build tens of milliseconds), then slirp4netns.
  Result<void> StartNetwork(const std::vector<std::string>& prohibited) {
    const std::string& ip = options.ip_path;
    MARKET_RETURN_IF_ERROR(RunQuick({ip, "netns", "add", name}));
    netns = true;
    std::string commands = "link set lo up\n";
    // A prohibit route needs no device, so the routes are in place before tap0 exists.
    for (const std::string& range : prohibited) commands += "route add prohibit " + range + "\n";
    MARKET_RETURN_IF_ERROR(RunQuick({ip, "-n", name, "-batch", "-"}, std::move(commands)));
    process::Spec spec;
    // --disable-host-loopback: the gateway does not lead to the host's 127.0.0.1 (the routes
    // refuse it too). Not --enable-sandbox: its mount namespace shares /run/netns with
    // ours, and its unmounts there removed the namespace's own mount point.
    spec.argv = {options.slirp_path,
                 "--configure",
                 "--mtu=65520",
                 "--disable-host-loopback",
                 "--enable-seccomp",
                 "--netns-type=path",
                 (fs::path(kNetnsDir) / name).string(),
                 "tap0"};
    MARKET_ASSIGN_OR_RETURN(auto started, process::BackgroundChild::Start(spec));
    slirp.emplace(std::move(started));
    // Ready once it has configured tap0 (an address and a default route).
    for (int i = 0;; ++i) {
      std::string why;
      if (!slirp->Running(&why)) {
        return Fail(Errc::kInternal, fmt::format("slirp4netns exited: {}", why));
      }
      auto routes = RunQuick({ip, "-n", name, "-4", "route", "show", "default"});
      if (routes && routes->find("tap0") != std::string::npos) break;
      // Usually 5-30 ms; a machine busy with other builds can take seconds.
      if (i >= 1500) {
        return Fail(Errc::kInternal, "slirp4netns did not configure the network in 30 s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(i < 20 ? 5 : 20));
    }
    return {};
  }

  // Routes of type prohibit: a step's connect() fails at once with EACCES, and a step has no
  // CAP_NET_ADMIN to change them.
  std::vector<std::string> RefusedRanges() const {
    std::vector<IpRange> refused = {*ParseIpRange("", kSlirpGateway)};
    for (const IpRange& r : AlwaysDeniedRanges()) refused.push_back(r);
    for (const IpRange& r : HostAddresses()) refused.push_back(r);
    for (const IpRange& r : options.deny) refused.push_back(r);
    std::vector<std::string> ranges;
    for (const IpRange& r : refused) {
      // The namespace has no IPv6 way out at all (slirp4netns runs without --enable-ipv6),
      // and its own loopback is its own.
      if (r.v6 || ParseIpRange("", "127.0.0.0/8")->Contains(r)) continue;
      std::string text = r.ToString();
      if (std::find(ranges.begin(), ranges.end(), text) == ranges.end()) {
        ranges.push_back(std::move(text));
      }
    }
    return ranges;
  }
};

Result<BuildSandbox> BuildSandbox::Create(const SandboxOptions& options) {
  auto parts = std::make_unique<Parts>();
  parts->options = options;
  parts->name = fmt::format("{}{}-{}", kPrefix, ::getpid(), next_sandbox++);
  if (options.pids > 0) {
    MARKET_ASSIGN_OR_RETURN(auto dir, parts->Limit("pids", "build-pids", "pids.max", "pids.max",
                                                   std::to_string(options.pids), nullptr));
    parts->pids_cgroup = dir;
  }
  if (options.memory_bytes > 0) {
    bool v2 = false;
    MARKET_ASSIGN_OR_RETURN(
        auto dir, parts->Limit("memory", "build-memory", "memory.limit_in_bytes", "memory.max",
                               std::to_string(options.memory_bytes), &v2));
    parts->memory_cgroup = dir;
    parts->memory_v2 = v2;
  }
  std::vector<std::string> refused = parts->RefusedRanges();
  if (auto ok = parts->StartNetwork(refused); !ok) {
    return Fail(Errc::kInternal, "the build network cannot be made: " + ok.error().message);
  }
  BuildSandbox sandbox(std::move(parts));
  sandbox.refused_ = std::move(refused);
  return sandbox;
}

BuildSandbox::BuildSandbox(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
BuildSandbox::BuildSandbox(BuildSandbox&& other) noexcept = default;
BuildSandbox::~BuildSandbox() = default;

fs::path BuildSandbox::NetworkNamespace() const { return fs::path(kNetnsDir) / parts_->name; }

std::string BuildSandbox::CgroupParent() const {
  if (parts_->cgroups.empty()) return {};
  // runc makes (and removes) each step's cgroup below ours, so the limit spans every step.
  return parts_->name + "/steps";
}

std::string BuildSandbox::LimitReached() const {
  // The failing step's own cgroup is gone (runc removes it) and records the events; ours, its
  // parent, keeps the peaks: a peak at the limit is a step that hit it.
  if (parts_->pids_cgroup) {
    const fs::path& dir = *parts_->pids_cgroup;
    if (Number(dir / "pids.peak") >= parts_->options.pids ||
        Counter(ReadText(dir / "pids.events").value_or(""), "max") > 0) {
      return fmt::format("a RUN step reached build-pids: {} processes at once",
                         parts_->options.pids);
    }
  }
  if (parts_->memory_cgroup) {
    const fs::path& dir = *parts_->memory_cgroup;
    const bool reached =
        parts_->memory_v2
            ? Counter(ReadText(dir / "memory.events").value_or(""), "max") > 0 ||
                  Counter(ReadText(dir / "memory.events").value_or(""), "oom_kill") > 0
            : Number(dir / "memory.max_usage_in_bytes") >= parts_->options.memory_bytes;
    if (reached) {
      return fmt::format("a RUN step reached build-memory: {} bytes", parts_->options.memory_bytes);
    }
  }
  return {};
}

void RemoveStaleSandboxes(const SandboxOptions& options) {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kNetnsDir, ec)) {
    std::string name = entry.path().filename().string();
    if (IsStale(name)) names.push_back(name);
  }
  for (const auto& name : names) {
    if (RunQuick({options.ip_path, "netns", "delete", name})) {
      MARKET_LOG_INFO("removed the stale build network {}", name);
    }
  }
  for (const char* controller : {"pids", "memory"}) {
    auto own = FindOwnCgroup(controller);
    if (!own) continue;
    if (own->v2 && own->dir.filename() == "market-server") own->dir = own->dir.parent_path();
    std::vector<fs::path> stale;
    for (const auto& entry : fs::directory_iterator(own->dir, ec)) {
      if (entry.is_directory(ec) && IsStale(entry.path().filename().string())) {
        stale.push_back(entry.path());
      }
    }
    for (const auto& dir : stale) RemoveCgroup(dir);
  }
}

}  // namespace market
