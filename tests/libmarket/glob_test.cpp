#include "glob.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace market {
namespace {

TEST_CASE("Globs: '*' stays within a path component, '**' crosses '/'", "[glob]") {
  CHECK(GlobMatches("myweb/*", "myweb/app"));
  CHECK_FALSE(GlobMatches("myweb/*", "myweb/app/extra"));
  CHECK_FALSE(GlobMatches("myweb/*", "other/app"));
  CHECK_FALSE(GlobMatches("myweb/*", "myweb"));
  CHECK(GlobMatches("*/*", "team/web"));
  CHECK_FALSE(GlobMatches("*/*", "team"));
  CHECK_FALSE(GlobMatches("*", "team/web"));
  CHECK(GlobMatches("**", "a/b/c"));
  CHECK(GlobMatches("**", ""));
  CHECK(GlobMatches("team/**", "team/a/b"));
  CHECK(GlobMatches("team/***", "team/a/b"));
  CHECK(GlobMatches("team/we*", "team/web"));
  CHECK(GlobMatches("team/*b", "team/web"));
  CHECK_FALSE(GlobMatches("team/*b", "team/webs"));
  CHECK(GlobMatches("team/web", "team/web"));
  CHECK_FALSE(GlobMatches("team/web", "team/web2"));
  CHECK(GlobMatches("*", ""));
}

TEST_CASE("Globs: '?' is one character but '/', and the rest matches itself", "[glob]") {
  CHECK(GlobMatches("release-?.*", "release-1.2"));
  CHECK_FALSE(GlobMatches("release-?.*", "release-12"));
  CHECK_FALSE(GlobMatches("a?b", "a/b"));
  CHECK(GlobMatches("v*", "v1.0"));
  CHECK_FALSE(GlobMatches("v*", "1.0"));
  CHECK_FALSE(GlobMatches("", "x"));
  CHECK(GlobMatches("", ""));
  CHECK_FALSE(GlobMatches("a.c", "abc"));  // '.' is no wildcard
}

TEST_CASE("Globs: many wildcards cost the product of the lengths, not an explosion", "[glob]") {
  CHECK_FALSE(GlobMatches(std::string(120, 'a') + "*" + std::string(60, '*') + "b",
                          std::string(200, 'a')));
  std::string glob;
  for (int i = 0; i < 100; ++i) glob += "a*";
  CHECK_FALSE(GlobMatches(glob + "b", std::string(5000, 'a')));
}

}  // namespace
}  // namespace market
