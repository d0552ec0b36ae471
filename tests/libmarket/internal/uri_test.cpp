#include "uri.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace market {
namespace {

TEST_CASE("ParseUri reads scheme, host, port and target", "[uri]") {
  auto u = ParseUri("HTTPS://Registry.Example.COM:5000/v2/_catalog?n=10");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "registry.example.com");
  CHECK_FALSE(u->ip_literal);
  CHECK(u->port == 5000);
  CHECK(u->target == "/v2/_catalog?n=10");
  CHECK_FALSE(u->has_userinfo);
  CHECK_FALSE(u->has_fragment);

  auto v6 = ParseUri("http://[::1]:8080");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->ip_literal);
  CHECK(v6->port == 8080);
  CHECK(v6->target == "/");

  auto query_only = ParseUri("http://h?x=1");
  REQUIRE(query_only);
  CHECK(query_only->target == "/?x=1");
  CHECK(query_only->port == 0);

  auto empty_port = ParseUri("http://h:/x");  // RFC 3986: an empty port is the default
  REQUIRE(empty_port);
  CHECK(empty_port->port == 0);

  auto file = ParseUri("file:///srv/r.git");
  REQUIRE(file);
  CHECK(file->scheme == "file");
  CHECK(file->host.empty());
}

TEST_CASE("ParseUri reports user info and fragments", "[uri]") {
  auto user = ParseUri("https://bob@git.example.com/app.git");
  REQUIRE(user);
  CHECK(user->has_userinfo);
  CHECK_FALSE(user->has_password);
  CHECK(user->host == "git.example.com");

  auto password = ParseUri("https://bob:hunter2@git.example.com/app.git");
  REQUIRE(password);
  CHECK(password->has_password);

  // The '@' after '#' is in the fragment: the host is the loopback, as every RFC reader says.
  auto fragment = ParseUri("http://127.0.0.1#@example.com/");
  REQUIRE(fragment);
  CHECK(fragment->host == "127.0.0.1");
  CHECK(fragment->has_fragment);
}

TEST_CASE("ParseUri refuses what a client could read another way", "[uri]") {
  for (const char* bad : {
           "localhost:5000",                   // no "//": a scheme and a path
           "/just/a/path",                     //
           "http://h:0/",                      // port out of range
           "http://h:65536/",                  //
           "http://h:99999999999999999999/",   // overflows
           "http://h:8o/",                     // not digits
           "http://ex%61mple.com/",            // percent-encoded host
           "http://[v1.fe80::a]/",             // IPvFuture
           "http://[::1/",                     // unclosed literal
           "http://[127.0.0.1]/",              // not IPv6
           "http://evil.example\\@127.0.0.1/",  // a backslash, read as '/' by browsers
           "http://a b/",                      // whitespace
           "http://h/\x01",                    // control character
           "",                                 //
       }) {
    INFO(bad);
    auto parsed = ParseUri(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::kInvalid);
    CHECK_FALSE(parsed.error().message.empty());
  }
  CHECK_THAT(ParseUri("http://h:70000/").error().message, Catch::Contains("1 to 65535"));
  CHECK_THAT(ParseUri("http://ex%61mple.com/").error().message, Catch::Contains("percent"));
}

TEST_CASE("SplitUriCredentials takes the user info out, decoded", "[uri]") {
  auto split = SplitUriCredentials("https://dep%40loy:p%3Ass@git.example.com:8443/r.git?x#y");
  REQUIRE(split);
  CHECK(split->url == "https://git.example.com:8443/r.git?x#y");
  CHECK(split->user == "dep@loy");
  CHECK(split->password == "p:ss");

  auto plain = SplitUriCredentials("https://git.example.com/r.git");
  REQUIRE(plain);
  CHECK(plain->url == "https://git.example.com/r.git");
  CHECK(plain->user.empty());
  CHECK(plain->password.empty());

  CHECK_FALSE(SplitUriCredentials("https://u:secret@h:8o/r.git"));
}

}  // namespace
}  // namespace market
