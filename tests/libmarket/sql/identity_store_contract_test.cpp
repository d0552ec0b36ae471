// The IdentityStore and AuditLog contract, against every available backend (SQLite always,
// PostgreSQL when MARKET_TEST_POSTGRES_URL is set).

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "market/identity.hpp"
#include "market/store.hpp"
#include "support/test_stores.hpp"
#include "store_contract_support.hpp"

using market::AuditActor;
using market::AuditQuery;
using market::Errc;
using market::Role;
using market::testing::Backend;
using market::testing::TestDatabase;

using market::testing::OpenOrFail;
using market::testing::PickBackend;

namespace {

const market::TimePoint kT0{std::chrono::milliseconds{1'790'000'000'123}};
const AuditActor kCli{"cli:root", "", "rid-1"};

// A digest-shaped string; the store never sees real tokens.
std::string Digest(char c) { return std::string(64, c); }

}  // namespace

TEST_CASE("roles have names and an order", "[identity]") {
  CHECK(market::ToString(Role::kDeveloper) == "developer");
  CHECK(market::ParseRole("admin") == Role::kAdmin);
  CHECK_FALSE(market::ParseRole("root").has_value());
  CHECK(static_cast<int>(Role::kViewer) < static_cast<int>(Role::kDeveloper));
  CHECK(static_cast<int>(Role::kDeveloper) < static_cast<int>(Role::kAdmin));
}

TEST_CASE("users: add, find, list, role, password, delete", "[identity]") {
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  TestDatabase db(backend);
  market::Stores stores = OpenOrFail(db, 2);
  market::IdentityStore& ids = *stores.identity;

  auto ada = ids.AddUser("ada", Role::kAdmin, "$argon2id$hash-a", kCli, kT0);
  REQUIRE(ada);
  CHECK(ada->id > 0);
  CHECK(ada->role == Role::kAdmin);
  REQUIRE(ids.AddUser("bob", Role::kViewer, "$argon2id$hash-b", kCli, kT0));
  auto again = ids.AddUser("ada", Role::kViewer, "$argon2id$x", kCli, kT0);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::kAlreadyExists);
  CHECK(ids.AddUser("", Role::kViewer, "$argon2id$x", kCli, kT0).error().code == Errc::kInvalid);

  auto found = ids.FindUser("ada");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->password_hash == "$argon2id$hash-a");
  CHECK((*found)->user.created_at == kT0);
  auto missing = ids.FindUser("nobody");
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());

  auto users = ids.ListUsers();
  REQUIRE(users);
  REQUIRE(users->size() == 2);
  CHECK((*users)[0].name == "ada");
  CHECK((*users)[1].name == "bob");
  CHECK(ids.CountUsers().value() == 2);

  auto promoted = ids.SetRole("bob", Role::kDeveloper, kCli, kT0);
  REQUIRE(promoted);
  CHECK(promoted->role == Role::kDeveloper);
  CHECK(ids.FindUser("bob").value()->user.role == Role::kDeveloper);
  REQUIRE(ids.SetPassword("bob", "$argon2id$new", kCli, kT0));
  CHECK(ids.FindUser("bob").value()->password_hash == "$argon2id$new");
  CHECK(ids.SetRole("nobody", Role::kAdmin, kCli, kT0).error().code == Errc::kNotFound);

  REQUIRE(ids.DeleteUser("bob", kCli, kT0));
  CHECK_FALSE(ids.FindUser("bob").value().has_value());
  CHECK(ids.DeleteUser("bob", kCli, kT0).error().code == Errc::kNotFound);
  CHECK(ids.CountUsers().value() == 1);
}

TEST_CASE("tokens: only digests, lookup, revoke, gone with their user", "[identity]") {
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  TestDatabase db(backend);
  market::Stores stores = OpenOrFail(db, 2);
  market::IdentityStore& ids = *stores.identity;
  REQUIRE(ids.AddUser("dev", Role::kDeveloper, "$argon2id$h", kCli, kT0));
  REQUIRE(ids.AddUser("ops", Role::kAdmin, "$argon2id$h", kCli, kT0));

  auto ci = ids.AddToken("dev", "ci", "mkt_abcdef", Digest('a'), kCli, kT0);
  REQUIRE(ci);
  CHECK(ci->user == "dev");
  CHECK(ci->label == "ci");
  CHECK_FALSE(ci->revoked_at.has_value());
  auto laptop = ids.AddToken("ops", "", "mkt_123456", Digest('b'), kCli, kT0);
  REQUIRE(laptop);
  CHECK(ids.AddToken("ghost", "", "mkt_x", Digest('c'), kCli, kT0).error().code ==
        Errc::kNotFound);

  auto owner = ids.FindByTokenDigest(Digest('a'));
  REQUIRE(owner);
  REQUIRE(owner->has_value());
  CHECK((*owner)->name == "dev");
  CHECK((*owner)->role == Role::kDeveloper);
  CHECK_FALSE(ids.FindByTokenDigest(Digest('z')).value().has_value());

  auto all = ids.ListTokens("");
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].id == laptop->id);  // newest first
  auto devs = ids.ListTokens("dev");
  REQUIRE(devs);
  REQUIRE(devs->size() == 1);
  CHECK(devs->front().prefix == "mkt_abcdef");

  auto revoked = ids.RevokeToken(ci->id, kCli, kT0 + std::chrono::seconds(5));
  REQUIRE(revoked);
  REQUIRE(revoked->revoked_at.has_value());
  CHECK(*revoked->revoked_at == kT0 + std::chrono::seconds(5));
  CHECK_FALSE(ids.FindByTokenDigest(Digest('a')).value().has_value());
  auto twice = ids.RevokeToken(ci->id, kCli, kT0 + std::chrono::seconds(9));
  REQUIRE(twice);
  CHECK(*twice->revoked_at == kT0 + std::chrono::seconds(5));  // the first revocation stays
  CHECK(ids.RevokeToken(999999, kCli, kT0).error().code == Errc::kNotFound);
  auto listed = ids.ListTokens("dev");
  REQUIRE(listed);
  CHECK(listed->front().revoked_at.has_value());

  REQUIRE(ids.DeleteUser("ops", kCli, kT0));
  CHECK_FALSE(ids.FindByTokenDigest(Digest('b')).value().has_value());
  CHECK(ids.ListTokens("").value().size() == 1);
}

TEST_CASE("identity changes are audited in their own transaction, the log pages and filters",
          "[identity][audit]") {
  Backend backend = PickBackend();
  INFO("backend " << market::testing::ToString(backend));
  TestDatabase db(backend);
  market::Stores stores = OpenOrFail(db, 2);
  market::IdentityStore& ids = *stores.identity;
  market::AuditLog& audit = *stores.audit;

  REQUIRE(ids.AddUser("dev", Role::kDeveloper, "$argon2id$secret-hash", kCli, kT0));
  auto token = ids.AddToken("dev", "ci", "mkt_abcdef", Digest('d'), kCli, kT0);
  REQUIRE(token);
  REQUIRE(ids.RevokeToken(token->id, AuditActor{"ada", "", "rid-9"}, kT0));
  // A failed change writes nothing.
  REQUIRE_FALSE(ids.AddUser("dev", Role::kAdmin, "$argon2id$x", kCli, kT0));

  market::AuditEntry project;
  project.time = kT0 + std::chrono::seconds(1);
  project.actor = "ada";
  project.on_behalf_of = "dev";
  project.action = "project.save";
  project.target = "project:web";
  project.request_id = "rid-2";
  project.before_json = "null";
  project.after_json = R"({"name":"web"})";
  auto recorded = audit.Record(project);
  REQUIRE(recorded);
  CHECK(recorded->id > 0);

  AuditQuery query;
  query.page_size = 100;
  auto everything = audit.List(query);
  REQUIRE(everything);
  CHECK(everything->total_count == 4);
  REQUIRE(everything->entries.size() == 4);
  const market::AuditEntry& newest = everything->entries[0];
  CHECK(newest.id == recorded->id);
  CHECK(newest.on_behalf_of == "dev");
  CHECK(newest.after_json == R"({"name":"web"})");
  CHECK(newest.time == project.time);
  const market::AuditEntry& added = everything->entries[3];
  CHECK(added.action == "user.add");
  CHECK(added.target == "user:dev");
  CHECK(added.actor == "cli:root");
  CHECK(added.request_id == "rid-1");
  CHECK(added.before_json == "null");
  CHECK(added.after_json.find("developer") != std::string::npos);
  for (const auto& entry : everything->entries) {
    CHECK(entry.before_json.find("secret-hash") == std::string::npos);
    CHECK(entry.after_json.find("secret-hash") == std::string::npos);
    CHECK(entry.after_json.find(Digest('d')) == std::string::npos);
  }
  const market::AuditEntry& revoke = everything->entries[1];
  CHECK(revoke.action == "token.revoke");
  CHECK(revoke.before_json.find(R"("revoked":false)") != std::string::npos);
  CHECK(revoke.after_json.find(R"("revoked":true)") != std::string::npos);

  query.target = "user:dev";
  auto for_dev = audit.List(query);
  REQUIRE(for_dev);
  CHECK(for_dev->total_count == 3);
  query.target.clear();
  query.actor = "dev";  // matches on_behalf_of too
  auto acting_for = audit.List(query);
  REQUIRE(acting_for);
  REQUIRE(acting_for->total_count == 1);
  CHECK(acting_for->entries[0].action == "project.save");
  query.actor = "ada";
  CHECK(audit.List(query).value().total_count == 2);

  AuditQuery by_action;
  by_action.action = "token.revoke";
  auto revokes = audit.List(by_action);
  REQUIRE(revokes);
  REQUIRE(revokes->total_count == 1);
  CHECK(revokes->entries[0].target == revoke.target);
  by_action.action = "token";  // exact, not a prefix
  CHECK(audit.List(by_action).value().total_count == 0);

  // The identity changes are at kT0, the project save a second later: since is inclusive,
  // until exclusive.
  AuditQuery in_time;
  in_time.since = kT0 + std::chrono::seconds(1);
  auto later = audit.List(in_time);
  REQUIRE(later);
  REQUIRE(later->total_count == 1);
  CHECK(later->entries[0].action == "project.save");
  in_time.since.reset();
  in_time.until = kT0 + std::chrono::seconds(1);
  CHECK(audit.List(in_time).value().total_count == 3);
  in_time.since = kT0;
  in_time.until = kT0;
  CHECK(audit.List(in_time).value().total_count == 0);
  in_time.action = "project.save";
  in_time.since = kT0;
  in_time.until = kT0 + std::chrono::seconds(2);
  in_time.actor = "dev";
  CHECK(audit.List(in_time).value().total_count == 1);

  AuditQuery paged;
  paged.page = 2;
  paged.page_size = 3;
  auto second = audit.List(paged);
  REQUIRE(second);
  CHECK(second->total_count == 4);
  REQUIRE(second->entries.size() == 1);
  CHECK(second->entries[0].action == "user.add");
  paged.page_size = 101;
  CHECK(audit.List(paged).error().code == Errc::kInvalid);
  paged.page_size = 10;
  paged.page = 0;
  CHECK(audit.List(paged).error().code == Errc::kInvalid);
}
