#pragma once
// The checks a request meets before routing (docs/security.md): a Host that names this server
// (DNS rebinding), and no state change from another site's page.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission.hpp"
#include "http_types.hpp"

namespace market::server {

class RequestObserver;

class RequestChecks {
 public:
  // `allowed_hosts`: Host values served, `name` (any port) or `name:port`; empty: `listen_host`,
  // localhost, 127.0.0.1 and [::1]. `allowed_origins`: sites whose pages may change things
  // (lower case). `observer` (may be null) is told of each refusal and must outlive this.
  RequestChecks(const std::vector<std::string>& allowed_hosts, std::string_view listen_host,
                std::vector<std::string> allowed_origins, RequestObserver* observer);

  // 421 for a Host that does not name this server, then 403 for a state-changing request from
  // another site's page; nullopt to go on. `path`: the target without its query.
  std::optional<Denied> Check(const HttpRequest& request, std::string_view path) const;

  // A Host header or an origin's authority: the name (IPv6 keeps its brackets) and the port as
  // written (empty when absent). Lower case.
  struct Authority {
    std::string name;
    std::string port;
  };

 private:
  std::optional<Denied> CheckHost(const HttpRequest& request, std::string_view path) const;
  std::optional<Denied> CheckOrigin(const HttpRequest& request, std::string_view path) const;

  std::vector<Authority> hosts_;
  std::vector<std::string> allowed_origins_;
  RequestObserver* observer_;
};

}  // namespace market::server
