#include "identity_commands.hpp"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <sodium.h>

#include "auth.hpp"
#include "identity_admin.hpp"
#include "market/identity.hpp"
#include "market/store.hpp"
#include "market/time.hpp"
#include "market/validation.hpp"

namespace market::server {

namespace {

constexpr std::string_view kPasswordInput =
    "the password is read from standard input: typed twice (without echo) at a terminal, else "
    "the first line of what is piped in; empty is refused";

// The audit names the operating-system account that ran the command.
std::string CommandActor() {
  passwd* entry = getpwuid(geteuid());
  return fmt::format("cli:{}", entry != nullptr ? entry->pw_name : std::to_string(geteuid()));
}

// One line from `in`; with a terminal, the echo is off while it is typed.
std::optional<std::string> ReadSecretLine(std::FILE* in, std::FILE* err, const char* prompt) {
  int fd = fileno(in);
  bool tty = isatty(fd) != 0;
  termios saved{};
  if (tty) {
    std::fputs(prompt, err);
    std::fflush(err);
    tcgetattr(fd, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string line;
  bool got = false;
  for (int c; (c = std::fgetc(in)) != EOF;) {
    got = true;
    if (c == '\n') break;
    line += static_cast<char>(c);
  }
  if (tty) {
    tcsetattr(fd, TCSAFLUSH, &saved);
    std::fputs("\n", err);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!got) return std::nullopt;
  return line;
}

Result<std::string> ReadNewPassword(std::FILE* in, std::FILE* err, const std::string& user) {
  std::string prompt = fmt::format("Password for {}: ", user);
  std::optional<std::string> password = ReadSecretLine(in, err, prompt.c_str());
  if (!password || password->empty()) {
    return Fail(Errc::kInvalid, "no password on standard input (it is never taken from "
                                "arguments)");
  }
  if (Result<void> valid = CheckNewPassword("the password", *password); !valid) {
    sodium_memzero(password->data(), password->size());
    return std::unexpected(valid.error());
  }
  if (isatty(fileno(in)) != 0) {
    std::optional<std::string> again = ReadSecretLine(in, err, "Again: ");
    bool same = again && *again == *password;
    if (again) sodium_memzero(again->data(), again->size());
    if (!same) {
      sodium_memzero(password->data(), password->size());
      return Fail(Errc::kInvalid, "the passwords differ");
    }
  }
  Result<std::string> hash = HashPassword(*password);
  sodium_memzero(password->data(), password->size());
  return hash;
}

std::string Day(TimePoint t) { return FormatIso8601(t).substr(0, 19) + "Z"; }

struct Settings {
  std::string database;
  std::string config_file;
};

Result<Stores> Open(const Settings& settings, const EnvLookup& env) {
  std::vector<std::string> args;
  if (!settings.config_file.empty()) args.insert(args.end(), {"--config", settings.config_file});
  if (!settings.database.empty()) args.insert(args.end(), {"--database", settings.database});
  Result<ConfigOutcome> outcome = LoadConfig(args, env);
  if (!outcome) return std::unexpected(outcome.error());
  StoreOptions options;
  options.url = outcome->config.database;
  options.pool_size = 1;
  Result<Stores> stores = OpenStores(options);
  if (!stores) return Fail(stores.error().code, "database: " + stores.error().message);
  return stores;
}

}  // namespace

bool IsIdentityCommand(std::span<const std::string> args) {
  return !args.empty() && (args[0] == "user" || args[0] == "token");
}

int RunIdentityCommand(std::span<const std::string> args, const EnvLookup& env, std::FILE* in,
                       std::FILE* out, std::FILE* err) {
  CLI::App app{"market-server user|token: manage users and API tokens", "market-server"};
  app.require_subcommand(1);
  Settings settings;
  auto add_settings = [&](CLI::App* command) {
    command->add_option("--database", settings.database,
                        "sqlite:PATH or postgresql://... (else MARKET_DATABASE, the config file)");
    command->add_option("--config", settings.config_file, "TOML configuration file");
  };

  CLI::App* user = app.add_subcommand("user", "users (people) and their roles");
  user->require_subcommand(1);
  std::string name, role_text = "viewer";
  CLI::App* user_add = user->add_subcommand("add", fmt::format("add a user; {}", kPasswordInput));
  user_add->add_option("name", name, "user name")->required();
  user_add->add_option("--role", role_text, "viewer, developer or admin (default viewer)");
  add_settings(user_add);
  CLI::App* user_list = user->add_subcommand("list", "list users");
  add_settings(user_list);
  CLI::App* user_delete = user->add_subcommand("delete", "delete a user and its tokens");
  user_delete->add_option("name", name, "user name")->required();
  add_settings(user_delete);
  CLI::App* user_password =
      user->add_subcommand("password", fmt::format("set a user's password; {}", kPasswordInput));
  user_password->add_option("name", name, "user name")->required();
  add_settings(user_password);
  CLI::App* user_role = user->add_subcommand("role", "change a user's role");
  user_role->add_option("name", name, "user name")->required();
  user_role->add_option("role", role_text, "viewer, developer or admin")->required();
  add_settings(user_role);

  CLI::App* token = app.add_subcommand("token", "API tokens (Authorization: Bearer ...)");
  token->require_subcommand(1);
  std::string label;
  std::string id_text;
  CLI::App* token_create =
      token->add_subcommand("create", "create a token for a user and print it (once)");
  token_create->add_option("--user", name, "the token's owner")->required();
  token_create->add_option("--name", label, "what the token is for (e.g. ci)");
  add_settings(token_create);
  CLI::App* token_list = token->add_subcommand("list", "list tokens (never the tokens themselves)");
  token_list->add_option("--user", name, "only this user's");
  add_settings(token_list);
  CLI::App* token_revoke = token->add_subcommand("revoke", "revoke a token by its id");
  token_revoke->add_option("id", id_text, "the id `token list` shows")->required();
  add_settings(token_revoke);

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), out);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(err, "market-server: %s\n", e.what());
    return 2;
  }

  auto fail = [&](const Error& error) {
    std::fprintf(err, "market-server: %s\n", error.message.c_str());
    return error.code == Errc::kInvalid ? 2 : 1;
  };
  std::optional<Role> role = ParseRole(role_text);
  if (!role) return fail(Error{Errc::kInvalid, "role must be viewer, developer or admin"});
  if (!name.empty() && !user_list->parsed()) {
    Result<std::string> valid = ValidateOperator("user name", name);
    if (!valid) return fail(valid.error());
  }
  if (Result<void> valid = CheckTokenLabel("token name", label); !valid) return fail(valid.error());
  std::int64_t id = 0;
  if (token_revoke->parsed()) {
    auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (ec != std::errc() || end != id_text.data() + id_text.size() || id < 1) {
      return fail(Error{Errc::kInvalid, "token id must be a positive integer"});
    }
  }

  // Read the password before opening the database: a typo in it costs no connection.
  std::string hash;
  if (user_add->parsed() || user_password->parsed()) {
    Result<std::string> made = ReadNewPassword(in, err, name);
    if (!made) return fail(made.error());
    hash = std::move(*made);
  }

  Result<Stores> stores = Open(settings, env);
  if (!stores) return fail(stores.error());
  IdentityStore& identity = *stores->identity;
  AuditActor by{CommandActor(), "", ""};
  TimePoint now = SystemClock().Now();

  if (user_add->parsed()) {
    Result<User> added = identity.AddUser(name, *role, hash, by, now);
    if (!added) return fail(added.error());
    std::fprintf(out, "user %s added (%s)\n", added->name.c_str(),
                 std::string(ToString(added->role)).c_str());
  } else if (user_list->parsed()) {
    Result<std::vector<User>> users = identity.ListUsers();
    if (!users) return fail(users.error());
    std::fprintf(out, "%-24s %-10s %s\n", "NAME", "ROLE", "CREATED");
    for (const User& u : *users) {
      std::fprintf(out, "%-24s %-10s %s\n", u.name.c_str(), std::string(ToString(u.role)).c_str(),
                   Day(u.created_at).c_str());
    }
  } else if (user_delete->parsed()) {
    if (auto deleted = identity.DeleteUser(name, by, now); !deleted) return fail(deleted.error());
    std::fprintf(out, "user %s deleted (and its tokens)\n", name.c_str());
  } else if (user_password->parsed()) {
    if (auto set = identity.SetPassword(name, hash, by, now); !set) return fail(set.error());
    std::fprintf(out, "password of %s changed\n", name.c_str());
  } else if (user_role->parsed()) {
    Result<User> set = identity.SetRole(name, *role, by, now);
    if (!set) return fail(set.error());
    std::fprintf(out, "%s is now %s\n", name.c_str(), std::string(ToString(*role)).c_str());
  } else if (token_create->parsed()) {
    Result<NewToken> made = GenerateToken();
    if (!made) return fail(made.error());
    Result<ApiToken> added = identity.AddToken(name, label, made->prefix, made->digest, by, now);
    if (!added) {
      sodium_memzero(made->secret.data(), made->secret.size());
      return fail(added.error());
    }
    std::fprintf(err, "token %lld for %s created; it is shown only now, store it safely:\n",
                 static_cast<long long>(added->id), added->user.c_str());
    std::fprintf(out, "%s\n", made->secret.c_str());
    sodium_memzero(made->secret.data(), made->secret.size());
  } else if (token_list->parsed()) {
    Result<std::vector<ApiToken>> tokens = identity.ListTokens(name);
    if (!tokens) return fail(tokens.error());
    std::fprintf(out, "%-6s %-20s %-16s %-12s %-21s %s\n", "ID", "USER", "NAME", "PREFIX",
                 "CREATED", "STATUS");
    for (const ApiToken& t : *tokens) {
      std::string status = t.revoked_at ? "revoked " + Day(*t.revoked_at) : "active";
      std::fprintf(out, "%-6lld %-20s %-16s %-12s %-21s %s\n", static_cast<long long>(t.id),
                   t.user.c_str(), t.label.empty() ? "-" : t.label.c_str(), t.prefix.c_str(),
                   Day(t.created_at).c_str(), status.c_str());
    }
  } else if (token_revoke->parsed()) {
    Result<ApiToken> revoked = identity.RevokeToken(id, by, now);
    if (!revoked) return fail(revoked.error());
    std::fprintf(out, "token %lld of %s revoked\n", static_cast<long long>(revoked->id),
                 revoked->user.c_str());
  }
  return 0;
}

}  // namespace market::server
