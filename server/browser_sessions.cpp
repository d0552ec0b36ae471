#include "browser_sessions.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "auth.hpp"
#include "sha256.hpp"

namespace market::server {

Result<std::string> BrowserSessions::Start(std::string_view user) {
  MARKET_ASSIGN_OR_RETURN(std::string secret, RandomSecret(kSessionPrefix));
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  std::erase_if(live_, [&](const auto& entry) { return entry.second.expires <= now; });
  if (live_.size() >= kMaxSessions) {
    auto soonest = std::min_element(live_.begin(), live_.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    });
    live_.erase(soonest);
  }
  live_[Sha256Hex(secret)] = Live{std::string(user), now + kLifetime};
  return secret;
}

std::optional<std::string> BrowserSessions::UserOf(std::string_view secret) const {
  if (!secret.starts_with(kSessionPrefix)) return std::nullopt;
  std::string digest = Sha256Hex(secret);
  std::lock_guard lock(mutex_);
  auto it = live_.find(digest);
  if (it == live_.end()) return std::nullopt;
  if (it->second.expires <= std::chrono::steady_clock::now()) {
    live_.erase(it);
    return std::nullopt;
  }
  return it->second.user;
}

void BrowserSessions::End(std::string_view secret) {
  std::string digest = Sha256Hex(secret);
  std::lock_guard lock(mutex_);
  live_.erase(digest);
}

void BrowserSessions::EndAllOf(std::string_view user) {
  std::lock_guard lock(mutex_);
  std::erase_if(live_, [&](const auto& entry) { return entry.second.user == user; });
}

std::size_t BrowserSessions::Count() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

std::string_view SessionCookieOf(const HttpRequest& request) {
  // Cookie: a=1; market_session=mks_...; b=2 (a request may carry several Cookie headers).
  auto [first, last] = request.equal_range(http::field::cookie);
  for (auto it = first; it != last; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      std::size_t end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      std::size_t equals = pair.find('=');
      if (equals != std::string_view::npos && pair.substr(0, equals) == kSessionCookie) {
        return pair.substr(equals + 1);
      }
    }
  }
  return {};
}

std::string SessionCookieHeader(std::string_view secret, bool secure) {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kSessionCookie,
                     secret, std::chrono::seconds(BrowserSessions::kLifetime).count(),
                     secure ? "; Secure" : "");
}

std::string ClearedSessionCookieHeader(bool secure) {
  return fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}", kSessionCookie,
                     secure ? "; Secure" : "");
}

bool CameOverHttps(const HttpRequest& request) {
  std::string_view proto = HeaderValue(request, "X-Forwarded-Proto");
  std::string_view origin = HeaderValue(request, http::field::origin);
  return proto == "https" || origin.starts_with("https://");
}

}  // namespace market::server
