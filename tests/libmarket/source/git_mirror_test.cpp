// git checkouts through mirrors (CommandCheckoutOptions::mirror_dir) against real repositories
// made on disk: what a rebuild transfers, one mirror per owner of the credentials, no password
// kept, broken mirrors made again, concurrent checkouts of one URL, and eviction by size.

#include "source/git_mirror.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "market/command_source_checkout.hpp"
#include "process/process.hpp"
#include "libmarket/source/shell_for_git.hpp"
#include "support/test_env.hpp"

namespace market {
namespace {

using namespace std::chrono_literals;

using market::testing::ReadFile;
using market::testing::Sh;

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A bare repository served as file://, with `files` small files on main, a tag v1 and a branch
// "feature"; work/ is its working clone for new commits.
struct Repo {
  explicit Repo(int files = 3, const std::string& name = "repo.git") {
    Sh(fmt::format("git init -q -b main work && cd work && for i in $(seq {}); do "
                   "echo \"file $i\" > f$i.txt; done && echo one > file.txt && git add . && "
                   "git commit -q -m one && git tag v1 && git checkout -q -b feature && "
                   "echo feature > file.txt && git commit -q -am feature && git checkout -q main "
                   "&& cd .. && git clone -q --bare work {}",
                   files, name),
       dir.path());
    bare = dir.path() / name;
    url = "file://" + bare.string();
  }
  // One changed file on main, pushed; the new commit id.
  std::string Commit(const std::string& content) {
    Sh(fmt::format("cd work && echo '{}' > file.txt && git commit -q -am change && "
                   "git push -q '{}' main",
                   content, bare.string()),
       dir.path());
    return Trimmed(Sh("git -C work rev-parse HEAD", dir.path()));
  }
  testing::TempDir dir;
  std::filesystem::path bare;
  std::string url;
};

SourceSpec Git(const std::string& url, const std::string& ref = "",
               const std::string& username = "", const std::string& password = "") {
  SourceSpec s;
  s.type = "git";
  s.url = url;
  s.ref = ref;
  s.checkout_as = "src";
  s.username = username;
  s.password = password;
  return s;
}

struct MirrorFixture {
  MirrorFixture() {
    CommandCheckoutOptions o;
    o.allow_file_urls = true;
    o.mirror_dir = mirrors.path() / "git-mirrors";
    checkout = MakeCommandSourceCheckout(o);
  }
  std::filesystem::path MirrorDir() const { return mirrors.path() / "git-mirrors"; }
  std::filesystem::path Mirror(const std::string& url, const std::string& user = "",
                               const std::string& password = "") const {
    return MirrorDir() / source::GitMirrorKey(url, user, password);
  }
  // Checks out into a new folder; the log of that checkout.
  Result<void> Run(const SourceSpec& spec, std::string* log = nullptr) {
    auto dest = out.path() / fmt::format("c{}", ++count);
    last_dest = dest;
    std::string text;
    auto ok = checkout->Checkout(spec, dest, limits,
                                 [&](std::string_view l) { text += std::string(l) + "\n"; }, {});
    all_log += text;
    if (log != nullptr) *log = text;
    return ok;
  }
  testing::TempDir mirrors;
  testing::TempDir out;
  SourceCheckoutPtr checkout;
  CheckoutLimits limits{.timeout = 60s, .max_bytes = 10 << 20};
  std::filesystem::path last_dest;
  std::string all_log;
  int count = 0;
};

std::int64_t Objects(const std::filesystem::path& repo) {
  std::string text = Sh("git --git-dir=. count-objects -v", repo);
  std::int64_t total = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("count: ")) total += std::stoll(line.substr(7));
    if (line.starts_with("in-pack: ")) total += std::stoll(line.substr(9));
  }
  return total;
}

std::vector<std::filesystem::path> Mirrors(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_directory()) out.push_back(e.path());
  }
  return out;
}

TEST_CASE("git mirror: a rebuild fetches only the new objects", "[checkout][mirror]") {
  Repo repo(300);
  MirrorFixture f;
  std::string log;
  auto first = f.Run(Git(repo.url), &log);
  INFO(f.all_log);
  REQUIRE(first);
  CHECK(ReadFile(f.last_dest / "file.txt") == "one\n");
  CHECK(ReadFile(f.last_dest / "f300.txt") == "file 300\n");
  CHECK_FALSE(std::filesystem::exists(f.last_dest / ".git"));
  CHECK(log.find("git mirror: made, fetched") != std::string::npos);
  const auto mirror = f.Mirror(repo.url);
  REQUIRE(std::filesystem::exists(mirror / "market-complete"));
  const std::int64_t first_objects = Objects(mirror);
  CHECK(first_objects >= 302);  // 301 blobs, a tree, a commit

  const std::string second_commit = repo.Commit("two");
  auto second = f.Run(Git(repo.url), &log);
  REQUIRE(second);
  CHECK(ReadFile(f.last_dest / "file.txt") == "two\n");
  CHECK(ReadFile(f.last_dest / "f1.txt") == "file 1\n");
  CHECK(log.find("checked out commit " + second_commit) != std::string::npos);
  // A commit, a tree and a blob travelled; a full resend of 300+ objects would have been kept
  // as a pack (more than fetch.unpackLimit) and counted again.
  const std::int64_t added = Objects(mirror) - first_objects;
  CHECK(added >= 3);
  CHECK(added <= 5);
  CHECK(log.find(fmt::format("git mirror: reused, fetched {} new objects", added)) !=
        std::string::npos);

  // Nothing changed: nothing travels, the remote is still asked.
  auto third = f.Run(Git(repo.url), &log);
  REQUIRE(third);
  CHECK(log.find("git mirror: reused, fetched 0 new objects") != std::string::npos);
  CHECK(Mirrors(f.MirrorDir()).size() == 1);
}

TEST_CASE("git mirror: branches, tags and commit ids", "[checkout][mirror]") {
  Repo repo;
  MirrorFixture f;
  const std::string first_commit = Trimmed(Sh("git --git-dir=. rev-parse v1^{commit}", repo.bare));
  struct Case {
    std::string ref;
    std::string content;
  };
  for (const auto& c : {Case{"", "one\n"}, Case{"feature", "feature\n"}, Case{"v1", "one\n"},
                        Case{first_commit, "one\n"}, Case{"main", "one\n"}}) {
    std::string log;
    auto ok = f.Run(Git(repo.url, c.ref), &log);
    INFO(c.ref << "\n" << f.all_log);
    REQUIRE(ok);
    CHECK(ReadFile(f.last_dest / "file.txt") == c.content);
    CHECK_FALSE(std::filesystem::exists(f.last_dest / ".git"));
  }
  const std::string new_commit = repo.Commit("later");
  std::string log;
  REQUIRE(f.Run(Git(repo.url, new_commit), &log));
  CHECK(ReadFile(f.last_dest / "file.txt") == "later\n");
  CHECK(log.find("checked out commit " + new_commit) != std::string::npos);
  CHECK(Mirrors(f.MirrorDir()).size() == 1);
}

TEST_CASE("git mirror: the remote is asked every time, and a failed fetch fails the checkout",
          "[checkout][mirror]") {
  Repo repo;
  MirrorFixture f;
  REQUIRE(f.Run(Git(repo.url)));
  REQUIRE(f.Run(Git(repo.url, "feature")));

  // An unknown ref fails, and leaves the mirror as it was.
  auto unknown = f.Run(Git(repo.url, "nope"));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("git fetch failed") != std::string::npos);
  CHECK(std::filesystem::exists(f.Mirror(repo.url) / "market-complete"));

  // The remote gone (as if access were revoked): the mirror holds main, yet nothing is written.
  std::filesystem::rename(repo.bare, repo.dir.path() / "moved.git");
  auto gone = f.Run(Git(repo.url));
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message.find("git fetch failed") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(f.last_dest / "file.txt"));

  std::filesystem::rename(repo.dir.path() / "moved.git", repo.bare);
  std::string log;
  REQUIRE(f.Run(Git(repo.url), &log));
  CHECK(log.find("git mirror: reused") != std::string::npos);
}

// Every file under `root`, links not followed, holds no `needle`; and no name does.
void CheckNowhere(const std::filesystem::path& root, const std::string& needle) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    INFO(e.path());
    CHECK(e.path().string().find(needle) == std::string::npos);
    if (e.is_regular_file() && !e.is_symlink()) {
      CHECK(ReadFile(e.path()).find(needle) == std::string::npos);
    }
  }
}

TEST_CASE("git mirror: one per owner of the credentials, and no password kept anywhere",
          "[checkout][mirror]") {
  Repo repo;
  MirrorFixture f;
  const std::string pw1 = "First-Secret-" + std::to_string(::getpid());
  const std::string pw2 = "Second-Secret-" + std::to_string(::getpid());
  REQUIRE(f.Run(Git(repo.url, "", "deploy", pw1)));
  REQUIRE(f.Run(Git(repo.url, "", "deploy", pw2)));
  REQUIRE(f.Run(Git(repo.url, "", "other", pw1)));
  REQUIRE(f.Run(Git(repo.url)));
  REQUIRE(f.Run(Git(repo.url, "", "deploy", pw1)));  // the first one again
  INFO(f.all_log);
  CHECK(Mirrors(f.MirrorDir()).size() == 4);
  for (const auto& [user, pw] : {std::pair{"deploy", pw1}, std::pair{"deploy", pw2},
                                 std::pair{"other", pw1}, std::pair{"", std::string()}}) {
    CHECK(std::filesystem::exists(f.Mirror(repo.url, user, pw) / "market-complete"));
  }
  // A password written into the URL is the same owner as the attribute.
  std::string log;
  REQUIRE(f.Run(Git("file://deploy:" + pw1 + "@" + repo.bare.string()), &log));
  CHECK(Mirrors(f.MirrorDir()).size() == 4);
  CHECK(log.find("git mirror: reused") != std::string::npos);

  CheckNowhere(f.MirrorDir(), pw1);
  CheckNowhere(f.MirrorDir(), pw2);
  CHECK(f.all_log.find(pw1) == std::string::npos);
  CHECK(f.all_log.find(pw2) == std::string::npos);
  // The mirror's config names no remote: git fetched by URL.
  CHECK(ReadFile(f.Mirror(repo.url, "deploy", pw1) / "config").find("url") == std::string::npos);

  // The key: the URL and the owner, deterministic, the password not readable from it.
  CHECK(source::GitMirrorKey(repo.url, "deploy", pw1) ==
        source::GitMirrorKey(repo.url, "deploy", pw1));
  CHECK(source::GitMirrorKey(repo.url, "deploy", pw1) !=
        source::GitMirrorKey(repo.url + "x", "deploy", pw1));
  CHECK(source::GitMirrorKey(repo.url, "deploy", "") != source::GitMirrorKey(repo.url, "", ""));
  CHECK(source::GitMirrorKey(repo.url, "", "x") != source::GitMirrorKey(repo.url, "", ""));
  CHECK(source::GitMirrorKey(repo.url, "deploy", pw1).size() == 64);
}

TEST_CASE("git mirror: a broken or half-made mirror is made again", "[checkout][mirror]") {
  Repo repo;
  MirrorFixture f;
  REQUIRE(f.Run(Git(repo.url)));
  const auto mirror = f.Mirror(repo.url);

  SECTION("no complete marker: a checkout was killed while it changed the mirror") {
    std::filesystem::remove(mirror / "market-complete");
    std::ofstream(mirror / "objects/pack/tmp_pack_left") << "half a pack";
    std::string log;
    REQUIRE(f.Run(Git(repo.url), &log));
    INFO(log);
    CHECK(log.find("found incomplete") != std::string::npos);
    CHECK(log.find("git mirror: made") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(mirror / "objects/pack/tmp_pack_left"));
    CHECK(ReadFile(f.last_dest / "file.txt") == "one\n");
  }
  SECTION("its objects gone though marked complete") {
    for (const auto& e : std::filesystem::directory_iterator(mirror / "objects")) {
      if (e.path().filename() != "info") std::filesystem::remove_all(e.path());
    }
    std::filesystem::create_directories(mirror / "objects/pack");
    std::string log;
    auto ok = f.Run(Git(repo.url), &log);
    INFO(log);
    REQUIRE(ok);
    CHECK(log.find("found broken") != std::string::npos);
    CHECK(log.find("git mirror: made") != std::string::npos);
    CHECK(ReadFile(f.last_dest / "file.txt") == "one\n");
  }
  REQUIRE(std::filesystem::exists(mirror / "market-complete"));
  std::string log;
  REQUIRE(f.Run(Git(repo.url), &log));
  CHECK(log.find("git mirror: reused") != std::string::npos);
}

TEST_CASE("git mirror: checkouts of one URL at once all succeed", "[checkout][mirror]") {
  Repo repo(200);
  MirrorFixture f;
  constexpr int kThreads = 6;
  std::vector<std::string> logs(kThreads);
  std::vector<char> ok(kThreads);  // not vector<bool>: each thread writes its own element
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        auto dest = f.out.path() / fmt::format("t{}", i);
        auto r = f.checkout->Checkout(
            Git(repo.url, i % 2 ? "feature" : ""), dest, f.limits,
            [&logs, i](std::string_view l) { logs[i] += std::string(l) + "\n"; }, {});
        ok[i] = r.has_value();
      });
    }
  }
  int made = 0;
  for (int i = 0; i < kThreads; ++i) {
    INFO(logs[i]);
    CHECK(ok[i]);
    const auto dest = f.out.path() / fmt::format("t{}", i);
    CHECK(ReadFile(dest / "file.txt") == (i % 2 ? "feature\n" : "one\n"));
    CHECK(ReadFile(dest / "f200.txt") == "file 200\n");
    CHECK_FALSE(std::filesystem::exists(dest / ".git"));
    if (logs[i].find("git mirror: made") != std::string::npos) ++made;
  }
  CHECK(made == 1);
  CHECK(Mirrors(f.MirrorDir()).size() == 1);
}

TEST_CASE("git mirror: the size limit still bounds the checkout", "[checkout][mirror]") {
  Repo repo;
  Sh("cd work && head -c 300000 /dev/urandom > big.bin && git add big.bin && "
     "git commit -q -m big && git push -q ../repo.git main",
     repo.dir.path());
  MirrorFixture f;
  f.limits.max_bytes = 100000;
  auto ok = f.Run(Git(repo.url));
  REQUIRE_FALSE(ok);
  CHECK(ok.error().message.find("size limit") != std::string::npos);
}

TEST_CASE("git mirror: least recently used mirrors go beyond mirror_max_bytes",
          "[checkout][mirror]") {
  // Three repositories of about 200 KB each (random bytes do not compress).
  std::vector<std::unique_ptr<Repo>> repos;
  for (const char* name : {"a.git", "b.git", "c.git"}) {
    auto repo = std::make_unique<Repo>(1, name);
    Sh(fmt::format("cd work && head -c 200000 /dev/urandom > big.bin && git add big.bin && "
                   "git commit -q -m big && git push -q ../{} main",
                   name),
       repo->dir.path());
    repos.push_back(std::move(repo));
  }
  testing::TempDir mirrors;
  testing::TempDir out;
  CommandCheckoutOptions o;
  o.allow_file_urls = true;
  o.mirror_dir = mirrors.path();
  o.mirror_max_bytes = 500000;  // two fit, three do not
  auto checkout = MakeCommandSourceCheckout(o);
  CheckoutLimits limits{.timeout = 60s, .max_bytes = 10 << 20};
  int n = 0;
  auto run = [&](const Repo& r) {
    auto ok = checkout->Checkout(Git(r.url), out.path() / std::to_string(++n), limits,
                                 [](std::string_view) {}, {});
    REQUIRE(ok);
  };
  auto has = [&](const Repo& r) {
    return std::filesystem::exists(mirrors.path() / source::GitMirrorKey(r.url, "", ""));
  };
  run(*repos[0]);
  run(*repos[1]);
  CHECK(has(*repos[0]));
  CHECK(has(*repos[1]));
  std::this_thread::sleep_for(20ms);
  run(*repos[0]);  // a used again: b is now the least recently used
  run(*repos[2]);
  CHECK(has(*repos[0]));
  CHECK_FALSE(has(*repos[1]));
  CHECK(has(*repos[2]));
  CHECK_FALSE(std::filesystem::exists(mirrors.path() /
                                      (source::GitMirrorKey(repos[1]->url, "", "") + ".lock")));

  // A mirror in use (its lock held) is left alone even when it is the oldest.
  auto held = source::MirrorLock::TryAcquire(
      mirrors.path() / (source::GitMirrorKey(repos[0]->url, "", "") + ".lock"));
  REQUIRE(held);
  run(*repos[1]);
  CHECK(has(*repos[0]));
  CHECK(has(*repos[1]));
  CHECK_FALSE(has(*repos[2]));
}

TEST_CASE("git mirror: a lock waits for its holder and gives up at the deadline",
          "[checkout][mirror]") {
  testing::TempDir dir;
  const auto file = dir.path() / "x.lock";
  auto first = source::MirrorLock::TryAcquire(file);
  REQUIRE(first);
  CHECK_FALSE(source::MirrorLock::TryAcquire(file));
  bool waited = false;
  auto timed_out = source::MirrorLock::Acquire(file, std::chrono::steady_clock::now() + 300ms, {},
                                               [&] { waited = true; });
  REQUIRE_FALSE(timed_out);
  CHECK(waited);
  CHECK(timed_out.error().message.find("timed out") != std::string::npos);
  std::jthread release([&] {
    std::this_thread::sleep_for(200ms);
    first.reset();
  });
  auto later = source::MirrorLock::Acquire(file, std::chrono::steady_clock::now() + 10s, {}, {});
  CHECK(later);
}

}  // namespace
}  // namespace market
