// The checkout's path rules (normalizing, overlap, walking without links) and the reading of
// source URLs' hosts.

#include "source/context_paths.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "source/source_url.hpp"
#include "support/test_env.hpp"

namespace market::source {
namespace {

namespace fs = std::filesystem;

TEST_CASE("Checkout paths are normalized or refused", "[context_paths]") {
  CHECK(NormalizeContextPath("a") == "a");
  CHECK(NormalizeContextPath("a//b") == "a/b");
  CHECK(NormalizeContextPath("a/b/") == "a/b");
  CHECK(NormalizeContextPath("a///b//") == "a/b");
  CHECK(NormalizeContextPath("a..b/c.d") == "a..b/c.d");
  for (const char* bad : {"", "/", "//", "/etc", "./a", "a/.", "a/./b", ".", "..", "a/..", "a/../b",
                          "../a", "a\\b", "a\tb", "a\x7f"}) {
    INFO(bad);
    CHECK_FALSE(NormalizeContextPath(bad).has_value());
  }
  CHECK(NormalizeContextPath("a/./b").error().find("'.'") != std::string::npos);
  CHECK(NormalizeContextPath("/etc").error().find("absolute") != std::string::npos);
}

TEST_CASE("Overlap: equal, inside or containing, not a shared prefix", "[context_paths]") {
  CHECK(ContextPathsOverlap("a", "a"));
  CHECK(ContextPathsOverlap("a", "a/sub"));
  CHECK(ContextPathsOverlap("a/sub/x", "a"));
  CHECK_FALSE(ContextPathsOverlap("a", "ab"));
  CHECK_FALSE(ContextPathsOverlap("a/b", "a/c"));
  CHECK_FALSE(ContextPathsOverlap("ab/c", "a"));
}

TEST_CASE("A checkout folder is made through real directories only", "[context_paths]") {
  market::testing::TempDir dir;
  const fs::path context = dir.path() / "context";
  const fs::path outside = dir.path() / "outside";
  fs::create_directories(context);
  fs::create_directories(outside);

  REQUIRE(PrepareCheckoutFolder(context, "a/b/c"));
  CHECK(fs::is_directory(context / "a/b"));
  CHECK_FALSE(fs::exists(context / "a/b/c"));  // git and svn create the last one

  // An empty real directory is fine (and removed); a non-empty one is not.
  fs::create_directories(context / "a/b/c");
  REQUIRE(PrepareCheckoutFolder(context, "a/b/c"));
  CHECK_FALSE(fs::exists(context / "a/b/c"));
  fs::create_directories(context / "a/b/c");
  std::ofstream(context / "a/b/c/f") << "x";
  auto full = PrepareCheckoutFolder(context, "a/b/c");
  REQUIRE_FALSE(full);
  CHECK(full.error().message.find("not empty") != std::string::npos);

  // A link anywhere on the way, to a folder outside or inside the context, is refused.
  fs::create_directory_symlink(outside, context / "link");
  fs::create_directories(context / "real");
  fs::create_directory_symlink("real", context / "inner");
  for (const char* rel : {"link", "link/x", "link/x/y", "inner/x"}) {
    INFO(rel);
    auto r = PrepareCheckoutFolder(context, rel);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::kInvalid);
    CHECK(r.error().message.find("is a symbolic link") != std::string::npos);
  }
  CHECK(fs::is_empty(outside));
  CHECK(fs::is_empty(context / "real"));

  std::ofstream(context / "file") << "x";
  auto file = PrepareCheckoutFolder(context, "file/x");
  REQUIRE_FALSE(file);
  CHECK(file.error().message.find("'file' is not a directory") != std::string::npos);
}

TEST_CASE("A Dockerfile must be a regular file reached without links", "[context_paths]") {
  market::testing::TempDir dir;
  const fs::path context = dir.path();
  fs::create_directories(context / "docker");
  std::ofstream(context / "docker/Dockerfile") << "FROM x\n";
  fs::create_symlink("/etc/passwd", context / "Dockerfile");
  fs::create_directory_symlink("docker", context / "linked");
  fs::create_directories(context / "dir");

  CHECK(CheckRegularFile(context, "docker/Dockerfile"));
  struct Case {
    const char* rel;
    const char* says;
  };
  for (const Case& c :
       {Case{"Dockerfile", "'Dockerfile' is a symbolic link"},
        Case{"linked/Dockerfile", "'linked' is a symbolic link"}, Case{"dir", "not a regular file"},
        Case{"nope", "does not exist"}, Case{"nope/Dockerfile", "'nope' does not exist"}}) {
    INFO(c.rel);
    auto r = CheckRegularFile(context, c.rel);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::kInvalid);
    CHECK(r.error().message.find(c.says) != std::string::npos);
  }
}

TEST_CASE("Source URLs: transport, host and port as git and svn read them", "[source_url]") {
  struct Case {
    const char* url;
    const char* scheme;
    const char* host;
    int port;
    bool ssh;
  };
  for (const Case& c : {
           Case{"https://git.example.com/a.git", "https", "git.example.com", 443, false},
           Case{"http://u@127.0.0.1:8080/r", "http", "127.0.0.1", 8080, false},
           Case{"HTTPS://[::1]:9/x", "https", "::1", 9, false},
           Case{"git://10.0.0.1/r.git", "git", "10.0.0.1", 9418, false},
           Case{"svn://svn.example.com/repo", "svn", "svn.example.com", 3690, false},
           Case{"ssh://git@h.example.com:2222/team/app.git", "ssh", "h.example.com", 2222, true},
           Case{"git+ssh://h/x", "git+ssh", "h", 22, true},
           Case{"svn+ssh://svn.example.com/repo", "svn+ssh", "svn.example.com", 22, true},
           Case{"git@git.example.com:team/app.git", "ssh", "git.example.com", 22, true},
           Case{"host:path/x", "ssh", "host", 22, true},
           Case{"u@[::1]:r.git", "ssh", "::1", 22, true},
           Case{"file:///srv/r.git", "file", "", 0, false},
           Case{"/srv/r.git", "file", "", 0, false},
           Case{"./a:b", "file", "", 0, false},
       }) {
    INFO(c.url);
    auto e = ParseSourceEndpoint(c.url);
    REQUIRE(e);
    CHECK(e->scheme == c.scheme);
    CHECK(e->host == c.host);
    CHECK(e->port == c.port);
    CHECK(e->ssh == c.ssh);
  }
  for (const char* bad :
       {"https:///x", "https://h:port/x", "https://h:70000/", "ssh://[::1/x", "@:x"}) {
    INFO(bad);
    CHECK_FALSE(ParseSourceEndpoint(bad));
  }
}

}  // namespace
}  // namespace market::source
