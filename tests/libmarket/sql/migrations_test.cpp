// Released migrations are frozen: a database that applied one keeps what it ran, so its text
// must never change. Each released migration's text is pinned here by its SHA-256.

#include <openssl/evp.h>

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <utility>
#include <string>
#include <vector>

#include "sql/migrations.hpp"

namespace {

// The statements joined by newlines, as a SHA-256 in hex.
std::string Digest(const std::vector<std::string>& statements) {
  std::string text;
  for (const std::string& statement : statements) {
    if (!text.empty()) text += '\n';
    text += statement;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  char pair[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

const market::sql::Migration& Version(int version) {
  for (const auto& migration : market::sql::Migrations()) {
    if (migration.version == version) return migration;
  }
  FAIL("no migration " << version);
  throw;
}

}  // namespace

TEST_CASE("migrations are numbered 1 to the schema version, in order", "[migrations]") {
  const auto& migrations = market::sql::Migrations();
  REQUIRE(migrations.size() == static_cast<std::size_t>(market::sql::kSchemaVersion));
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    CHECK(migrations[i].version == static_cast<int>(i + 1));
  }
}

TEST_CASE("migration 8 is the text SQLite databases applied", "[migrations]") {
  // What the statements were when 8 was released (they were generated from the piece length
  // then): an index and three triggers that cut names into 5-character pieces.
  const auto& migration = Version(8);
  CHECK(migration.postgres.empty());
  REQUIRE(migration.sqlite.size() == 5);
  CHECK(Digest(migration.sqlite) ==
        "1400e04cb653ddd5fbd732a4c983fde731c75abdac82b2d8b1abf1d185b2dcd8");
}

TEST_CASE("migration 17 keeps what each webhook repository filter matched", "[migrations]") {
  // A '*' of a filter stored before 17 crossed '/': it becomes '**', which still does.
  const auto& migration = Version(17);
  CHECK(migration.postgres == migration.sqlite);
  soci::session sql(soci::sqlite3, ":memory:");
  sql << "CREATE TABLE webhook_policies (id INTEGER PRIMARY KEY, repository_glob TEXT NOT NULL)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"default_cluster/myweb", "default_cluster/myweb"},
      {"default_cluster/*", "default_cluster/**"},
      {"*", "**"},
      {"*web*", "**web**"},
      {"team/**", "team/**"},
      {"release-?", "release-?"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    int id = static_cast<int>(i);
    sql << "INSERT INTO webhook_policies (id, repository_glob) VALUES (:i, :g)", soci::use(id),
        soci::use(cases[i].first);
  }
  for (const std::string& statement : migration.sqlite) sql << statement;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    int id = static_cast<int>(i);
    std::string glob;
    sql << "SELECT repository_glob FROM webhook_policies WHERE id = :i", soci::use(id),
        soci::into(glob);
    CHECK(glob == cases[i].second);
  }
}
