// Released migrations are frozen: a database that applied one keeps what it ran, so its text
// must never change. Each released migration's text is pinned here by its SHA-256.

#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <cstdio>
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

TEST_CASE("migrations are numbered from 1 up to the schema version, in order", "[migrations]") {
  // Numbers are handed out per feature, so one may be missing until its branch is merged: they
  // increase, without repeats, and the last is the schema version.
  const auto& migrations = market::sql::Migrations();
  REQUIRE_FALSE(migrations.empty());
  CHECK(migrations.front().version == 1);
  for (std::size_t i = 1; i < migrations.size(); ++i) {
    CHECK(migrations[i].version > migrations[i - 1].version);
  }
  CHECK(migrations.back().version == market::sql::kSchemaVersion);
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
