#pragma once
// The default SourceCheckout: the git and svn commands, credentials through their environment,
// no configuration of the host or the service account, and a check of where the URL leads.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "market/source_checkout.hpp"

namespace market {

struct CommandCheckoutOptions {
  std::string git_path = "git";
  std::string svn_path = "svn";
  std::string ssh_path = "ssh";  // what GIT_SSH_COMMAND and svn's ssh tunnel run

  // ssh:// , svn+ssh:// and user@host:path sources. Off: refused with kInvalid. On: ssh reads no
  // configuration and no keys of the service account; it trusts only the hosts of
  // `ssh_known_hosts_file` and logs in with `ssh_identity_file` (or no key at all).
  bool allow_ssh = false;
  std::string ssh_known_hosts_file{};
  std::string ssh_identity_file{};

  // file:// URLs and local paths. Never for users (a checkout would copy the server's files);
  // tests and embedders check out repositories made on disk.
  bool allow_file_urls = false;

  // Every address a source's host resolves to is checked before git or svn runs: loopback,
  // link-local, this host's addresses and `deny_networks` are refused unless in
  // `allow_networks` (CIDR text, as NetworkRules; the server's build-deny-networks and
  // source-allow-networks). Bad text makes MakeCommandSourceCheckout throw.
  std::vector<std::string> deny_networks{};
  std::vector<std::string> allow_networks{};

  // On (the server's build-isolation oci): git://, ssh and svn checkouts run in a network
  // namespace of their own, behind slirp4netns with the routes a build's RUN steps get. Their
  // tools resolve the host again after the check above, and svn follows redirects, so only
  // the network can refuse a second DNS answer or a redirect to this host or a denied network.
  // git over http(s) is pinned to the checked addresses and refuses redirects instead, and a
  // host whose addresses are all in `allow_networks` is reached from the host's network.
  // Needs what the build sandbox needs (root, ip, slirp4netns).
  bool network_sandbox = false;
  std::string ip_path = "ip";
  std::string slirp_path = "slirp4netns";

  // Set: git sources are fetched into a bare mirror at <mirror_dir>/<key>, one per URL and
  // owner of the credentials, and their files written from it, so a rebuild downloads only
  // new objects. Every checkout still fetches from the remote (which checks access each time).
  // A folder of the service's own, out of every build's reach. Empty: a fresh clone each time.
  std::filesystem::path mirror_dir{};
  // All mirrors together; beyond it the least recently used whole mirrors are removed after a
  // checkout. 5 GiB by default (the server's source-mirror-size).
  std::int64_t mirror_max_bytes = 5LL << 30;
};

// std::invalid_argument when a network in the options is not a CIDR range.
SourceCheckoutPtr MakeCommandSourceCheckout(CommandCheckoutOptions options = {});

}  // namespace market
