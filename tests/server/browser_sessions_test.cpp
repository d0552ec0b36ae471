// The console's sessions and the session cookie's parsing, without a server.

#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "browser_sessions.hpp"

namespace market::server {
namespace {

HttpRequest WithCookies(std::initializer_list<std::string> values) {
  HttpRequest request{http::verb::get, "/", 11};
  for (const std::string& value : values) request.insert(http::field::cookie, value);
  return request;
}

}  // namespace

TEST_CASE("the session cookie is found among others, in any Cookie header", "[session]") {
  CHECK(SessionCookieOf(WithCookies({})).empty());
  CHECK(SessionCookieOf(WithCookies({"market_session=mks_a"})) == "mks_a");
  CHECK(SessionCookieOf(WithCookies({"a=1;market_session=mks_b; c=2"})) == "mks_b");
  CHECK(SessionCookieOf(WithCookies({"a=1", "theme=dark;  market_session=mks_c"})) == "mks_c");
  // Names that only contain or resemble it are other cookies.
  CHECK(SessionCookieOf(WithCookies({"xmarket_session=mks_d; market_sessions=mks_e"})).empty());
  CHECK(SessionCookieOf(WithCookies({"market_session"})).empty());
  CHECK(SessionCookieOf(WithCookies({"market_session="})).empty());
  CHECK(SessionCookieOf(WithCookies({";;; ;market_session=mks_f;"})) == "mks_f");
}

TEST_CASE("sessions: random secrets, ended one by one or by user, bounded in number",
          "[session]") {
  BrowserSessions sessions;
  std::string ada = sessions.Start("ada").value();
  std::string ada_again = sessions.Start("ada").value();
  std::string bob = sessions.Start("bob").value();
  CHECK(ada.starts_with(kSessionPrefix));
  CHECK(ada.size() == kSessionPrefix.size() + 43);
  CHECK(ada != ada_again);
  CHECK(sessions.UserOf(ada) == "ada");
  CHECK(sessions.UserOf(bob) == "bob");
  CHECK_FALSE(sessions.UserOf(ada + "x"));
  CHECK_FALSE(sessions.UserOf(ada.substr(kSessionPrefix.size())));
  CHECK_FALSE(sessions.UserOf(""));

  sessions.End(ada);
  CHECK_FALSE(sessions.UserOf(ada));
  CHECK(sessions.UserOf(ada_again) == "ada");
  sessions.EndAllOf("ada");
  CHECK_FALSE(sessions.UserOf(ada_again));
  CHECK(sessions.UserOf(bob) == "bob");
  CHECK(sessions.Count() == 1);

  // A flood of sign-ins drops the oldest sessions, never grows past the bound.
  for (std::size_t i = 0; i < BrowserSessions::kMaxSessions; ++i) sessions.Start("flood").value();
  CHECK(sessions.Count() == BrowserSessions::kMaxSessions);
  CHECK_FALSE(sessions.UserOf(bob));  // the first one in, the first one out
}

TEST_CASE("the cookie is HttpOnly and SameSite=Strict, Secure over HTTPS", "[session]") {
  CHECK(SessionCookieHeader("mks_x", false) ==
        "market_session=mks_x; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict");
  CHECK(SessionCookieHeader("mks_x", true).ends_with("; Secure"));
  CHECK(ClearedSessionCookieHeader(false) ==
        "market_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  HttpRequest proxied{http::verb::post, "/", 11};
  CHECK_FALSE(CameOverHttps(proxied));
  proxied.set("X-Forwarded-Proto", "https");
  CHECK(CameOverHttps(proxied));
  HttpRequest page{http::verb::post, "/", 11};
  page.set(http::field::origin, "https://console.example.com");
  CHECK(CameOverHttps(page));
}

}  // namespace market::server
