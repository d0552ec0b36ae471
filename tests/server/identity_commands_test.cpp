// `market-server user ...` and `market-server token ...` through the real binary, then the
// server using what they made: first admin, tokens shown once, revocation, deletion.

#include <catch2/catch.hpp>

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/test_env.hpp"

namespace {

namespace http = boost::beast::http;
using market::testing::Reply;
using Outcome = market::testing::RunResult;

// Runs the binary with `input` on its standard input and collects both outputs.
Outcome Run(const std::vector<std::string>& args, const std::string& input = "") {
  std::vector<std::string> argv{market::testing::ServerBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return market::testing::RunProgram(argv, input);
}

// The binary with a terminal for its standard input and outputs, as a person typing at it.
class Terminal {
 public:
  explicit Terminal(const std::vector<std::string>& args) {
    pid_ = forkpty(&master_, nullptr, nullptr, nullptr);
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      std::string binary = market::testing::ServerBinary();
      std::vector<std::string> copy = args;
      std::vector<char*> argv{binary.data()};
      for (std::string& arg : copy) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Terminal() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(master_);
  }

  // Waits until `prompt` has been written after what was already seen and the terminal has
  // stopped echoing (the program reads a secret now): typing earlier would be flushed away.
  bool WaitForSecretPrompt(const std::string& prompt) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::size_t at = output_.find(prompt, seen_);
      termios mode{};
      if (at != std::string::npos && tcgetattr(master_, &mode) == 0 && (mode.c_lflag & ECHO) == 0) {
        seen_ = at + prompt.size();
        return true;
      }
      if (!ReadSome()) return false;
    }
    return false;
  }
  void Type(const std::string& text) {
    REQUIRE(write(master_, text.data(), text.size()) == ssize_t(text.size()));
  }
  // The exit status, once the program has ended.
  int Wait() {
    while (ReadSome()) {
    }
    int status = 0;
    REQUIRE(waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& output() const { return output_; }

 private:
  // False once the program has closed the terminal (EIO on the master).
  bool ReadSome() {
    pollfd fd{master_, POLLIN, 0};
    if (poll(&fd, 1, 100) <= 0) return true;
    char buffer[1024];
    ssize_t n = read(master_, buffer, sizeof buffer);
    if (n <= 0) return false;
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int master_ = -1;
  std::string output_;
  std::size_t seen_ = 0;
};

Reply Call(int port, http::verb method, const std::string& target, const std::string& auth,
           const std::string& body = "") {
  market::testing::Headers headers;
  if (!auth.empty()) headers["Authorization"] = auth;
  return market::testing::Call(port, method, target, body, body.empty() ? "" : "application/json",
                               headers);
}

std::string Trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

TEST_CASE("user and token commands manage what the server accepts", "[process][auth]") {
  market::testing::TempDir dir;
  std::string database = "sqlite:" + (dir.path() / "market.db").string();
  std::vector<std::string> db = {"--database", database};
  auto with_db = [&](std::vector<std::string> args) {
    args.insert(args.end(), db.begin(), db.end());
    return args;
  };

  Outcome admin = Run(with_db({"user", "add", "ada", "--role", "admin"}), "ada-password-1\n");
  INFO("stderr: " << admin.err);
  REQUIRE(admin.status == 0);
  CHECK_THAT(admin.out, Catch::Contains("user ada added (admin)"));

  Outcome short_password = Run(with_db({"user", "add", "dev", "--role", "developer"}), "short\n");
  CHECK(short_password.status == 2);
  CHECK_THAT(short_password.err, Catch::Contains("at least 8"));
  Outcome no_password = Run(with_db({"user", "add", "dev", "--role", "developer"}));
  CHECK(no_password.status == 2);
  CHECK_THAT(no_password.err, Catch::Contains("standard input"));
  Outcome bad_role = Run(with_db({"user", "add", "dev", "--role", "root"}), "dev-password-1\n");
  CHECK(bad_role.status == 2);
  REQUIRE(Run(with_db({"user", "add", "dev", "--role", "developer"}), "dev-password-1\n").status ==
          0);
  Outcome twice = Run(with_db({"user", "add", "ada"}), "ada-password-2\n");
  CHECK(twice.status == 1);
  CHECK_THAT(twice.err, Catch::Contains("already exists"));

  // The settings come from a config file as they do for the server.
  std::string config = (dir.path() / "market.toml").string();
  std::ofstream(config) << "database = \"" << database << "\"\n";
  Outcome listed = Run({"user", "list", "--config", config});
  REQUIRE(listed.status == 0);
  CHECK(std::regex_search(listed.out, std::regex(R"(ada\s+admin)")));
  CHECK(std::regex_search(listed.out, std::regex(R"(dev\s+developer)")));
  CHECK(listed.out.find("argon2") == std::string::npos);

  Outcome created = Run(with_db({"token", "create", "--user", "dev", "--name", "ci"}));
  REQUIRE(created.status == 0);
  std::string token = Trim(created.out);
  REQUIRE(token.starts_with("mkt_"));
  CHECK(token.size() == 4 + 43);
  CHECK(token.find('\n') == std::string::npos);
  CHECK_THAT(created.err, Catch::Contains("shown only now"));
  CHECK(Run(with_db({"token", "create", "--user", "nobody"})).status == 1);

  Outcome tokens = Run(with_db({"token", "list"}));
  REQUIRE(tokens.status == 0);
  CHECK(tokens.out.find(token) == std::string::npos);
  CHECK_THAT(tokens.out, Catch::Contains(token.substr(0, 10)));
  std::smatch row;
  REQUIRE(std::regex_search(tokens.out, row, std::regex(R"((\d+)\s+dev\s+ci\s+\S+\s+\S+\s+active)")));
  std::string token_id = row[1];

  market::testing::ServerProcess server(
      with_db({"--listen", "127.0.0.1:0", "--auth", "on", "--auth-cache-seconds", "0"}));
  INFO("server log: " << server.Log());
  REQUIRE(server.port() > 0);
  std::string bearer = "Bearer " + token;
  std::string ada = market::testing::BasicAuthorization("ada", "ada-password-1");
  CHECK(Call(server.port(), http::verb::get, "/api/project/list", "").status == 401);
  CHECK(Call(server.port(), http::verb::get, "/api/project/list", bearer).status == 200);
  Reply made = Call(server.port(), http::verb::post, "/api/project/new", bearer,
                    R"({"projectName": "svc"})");
  CHECK(made.status == 200);
  Reply audit = Call(server.port(), http::verb::get, "/api/audit?target=user%3Adev", ada);
  REQUIRE(audit.status == 200);
  auto entries = nlohmann::json::parse(audit.body)["content"];
  REQUIRE(entries.size() == 2);
  CHECK(entries[0]["action"] == "token.create");
  CHECK(entries[1]["action"] == "user.add");
  CHECK_THAT(entries[1]["actor"].get<std::string>(), Catch::StartsWith("cli:"));
  CHECK(audit.body.find(token) == std::string::npos);

  Outcome revoked = Run(with_db({"token", "revoke", token_id}));
  REQUIRE(revoked.status == 0);
  CHECK(Call(server.port(), http::verb::get, "/api/project/list", bearer).status == 401);
  CHECK_THAT(Run(with_db({"token", "list"})).out, Catch::Contains("revoked"));
  CHECK(Run(with_db({"token", "revoke", "abc"})).status == 2);

  CHECK(Call(server.port(), http::verb::get, "/api/project/list", ada).status == 200);
  REQUIRE(Run(with_db({"user", "delete", "ada"})).status == 0);
  CHECK(Call(server.port(), http::verb::get, "/api/project/list", ada).status == 401);
  CHECK(Run(with_db({"user", "delete", "ada"})).status == 1);
}

TEST_CASE("a non-loopback listener without authentication refuses to start", "[process][auth]") {
  market::testing::TempDir dir;
  Outcome refused = Run({"--listen", "0.0.0.0:0", "--database",
                         "sqlite:" + (dir.path() / "market.db").string()});
  CHECK(refused.status == 2);
  CHECK_THAT(refused.err, Catch::Contains("--auth on"));
  CHECK_THAT(refused.err, Catch::Contains("market-server user add"));
}

TEST_CASE("user add asks twice at a terminal and reads one line from a pipe", "[process][auth]") {
  market::testing::TempDir dir;
  std::string database = "sqlite:" + (dir.path() / "market.db").string();

  {
    Terminal differ({"user", "add", "ada", "--database", database});
    REQUIRE(differ.WaitForSecretPrompt("Password for ada: "));
    differ.Type("ada-password-1\n");
    REQUIRE(differ.WaitForSecretPrompt("Again: "));
    differ.Type("ada-password-2\n");
    CHECK(differ.Wait() == 2);
    INFO("terminal: " << differ.output());
    CHECK_THAT(differ.output(), Catch::Contains("the passwords differ"));
    CHECK(differ.output().find("ada-password") == std::string::npos);  // never echoed
  }
  {
    Terminal same({"user", "add", "ada", "--database", database});
    REQUIRE(same.WaitForSecretPrompt("Password for ada: "));
    same.Type("ada-password-1\n");
    REQUIRE(same.WaitForSecretPrompt("Again: "));
    same.Type("ada-password-1\n");
    CHECK(same.Wait() == 0);
    INFO("terminal: " << same.output());
    CHECK_THAT(same.output(), Catch::Contains("user ada added"));
  }

  // Piped: the first line is the password, nothing is asked and nothing confirmed.
  Outcome piped = Run({"user", "add", "bob", "--database", database},
                      "bob-password-1\nsomething else\n");
  INFO("stderr: " << piped.err);
  CHECK(piped.status == 0);
  CHECK(piped.err.find("Again") == std::string::npos);
  CHECK(piped.err.find("Password for") == std::string::npos);
  Outcome empty = Run({"user", "add", "carl", "--database", database}, "\nlater-line-1\n");
  CHECK(empty.status == 2);
  CHECK_THAT(empty.err, Catch::Contains("no password on standard input"));
  Outcome listed = Run({"user", "list", "--database", database});
  CHECK(std::regex_search(listed.out, std::regex(R"(ada\s+viewer)")));
  CHECK(std::regex_search(listed.out, std::regex(R"(bob\s+viewer)")));
  CHECK(listed.out.find("carl") == std::string::npos);

  Outcome help = Run({"user", "add", "--help"});
  CHECK(help.status == 0);
  CHECK_THAT(help.out, Catch::Contains("typed twice"));
  CHECK_THAT(help.out, Catch::Contains("first line of what is piped in"));
}

TEST_CASE("a plain-http registry without registry-insecure stops before the database opens",
          "[process]") {
  // A database that would take its whole connect timeout to fail (TEST-NET-1 is not routed):
  // the refusal comes at once, so the database was never opened.
  auto started = std::chrono::steady_clock::now();
  Outcome refused = Run({"--database",
                         "postgresql://market@192.0.2.1:5432/market?connect_timeout=30",
                         "--registry", "http://127.0.0.1:5000"});
  auto took = std::chrono::steady_clock::now() - started;
  INFO("stderr: " << refused.err);
  CHECK(refused.status == 2);
  CHECK_THAT(refused.err, Catch::Contains("registry-insecure"));
  CHECK_THAT(refused.err, Catch::Contains("--registry"));
  CHECK(refused.err.find("database") == std::string::npos);
  CHECK(took < std::chrono::seconds(10));
}
