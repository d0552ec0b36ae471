// The ImmutabilityStore contract, run against every available backend.

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "market/immutability.hpp"
#include "market/store.hpp"
#include "store_contract_support.hpp"
#include "support/test_stores.hpp"

using market::Errc;
using market::ImmutabilityRule;
using market::testing::OpenOrFail;
using market::testing::PickBackend;
using market::testing::TestDatabase;

namespace {

ImmutabilityRule MakeRule(const std::string& repository, const std::string& pattern) {
  ImmutabilityRule rule;
  rule.repository = repository;
  rule.tag_pattern = pattern;
  rule.enabled = true;
  rule.description = "releases are final";
  rule.creator = "alice";
  return rule;
}

}  // namespace

TEST_CASE("Immutability rules are stored whole and listed oldest first", "[sql][immutability]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  auto first = stores.immutability->Create(MakeRule("team/*", R"(v\d+)"));
  REQUIRE(first);
  CHECK(first->id > 0);
  CHECK(first->repository == "team/*");
  CHECK(first->tag_pattern == R"(v\d+)");
  CHECK(first->enabled);
  CHECK(first->description == "releases are final");
  CHECK(first->creator == "alice");
  CHECK(first->created_at.time_since_epoch().count() > 0);
  CHECK(first->updated_at == first->created_at);
  ImmutabilityRule off = MakeRule("**", ".*");
  off.enabled = false;
  off.description = "text with 'quotes'; and \"more\" -- DROP TABLE";
  auto second = stores.immutability->Create(off);
  REQUIRE(second);
  CHECK(second->id > first->id);
  CHECK_FALSE(second->enabled);
  CHECK(second->description == off.description);
  CHECK(stores.immutability->Get(first->id).value() == *first);

  auto listed = stores.immutability->List();
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0] == *first);
  CHECK((*listed)[1] == *second);
}

TEST_CASE("Immutability rules are updated and deleted by id, unknown ids are kNotFound",
          "[sql][immutability]") {
  TestDatabase db(PickBackend());
  auto stores = OpenOrFail(db);
  auto made = stores.immutability->Create(MakeRule("team/web", "latest"));
  REQUIRE(made);
  ImmutabilityRule changed = *made;
  changed.repository = "team/*";
  changed.tag_pattern = "stable|latest";
  changed.enabled = false;
  changed.description = "";
  changed.creator = "mallory";  // not a field an update sets
  auto updated = stores.immutability->Update(changed);
  REQUIRE(updated);
  CHECK(updated->repository == "team/*");
  CHECK(updated->tag_pattern == "stable|latest");
  CHECK_FALSE(updated->enabled);
  CHECK(updated->description.empty());
  CHECK(updated->creator == "alice");
  CHECK(updated->created_at == made->created_at);
  CHECK(updated->updated_at >= made->updated_at);
  CHECK(stores.immutability->Get(made->id).value() == *updated);

  ImmutabilityRule ghost = changed;
  ghost.id = made->id + 1000;
  CHECK(stores.immutability->Update(ghost).error().code == Errc::kNotFound);
  CHECK(stores.immutability->Get(ghost.id).error().code == Errc::kNotFound);
  CHECK(stores.immutability->Delete(ghost.id).error().code == Errc::kNotFound);

  REQUIRE(stores.immutability->Delete(made->id));
  CHECK(stores.immutability->Get(made->id).error().code == Errc::kNotFound);
  CHECK(stores.immutability->Delete(made->id).error().code == Errc::kNotFound);
  CHECK(stores.immutability->List()->empty());
}

TEST_CASE("Immutability rules outlive the store that wrote them", "[sql][immutability]") {
  TestDatabase db(PickBackend());
  std::int64_t id = 0;
  {
    auto stores = OpenOrFail(db);
    auto made = stores.immutability->Create(MakeRule("team/*", ".*"));
    REQUIRE(made);
    id = made->id;
  }
  auto reopened = OpenOrFail(db);
  auto read = reopened.immutability->Get(id);
  REQUIRE(read);
  CHECK(read->repository == "team/*");
  CHECK(read->tag_pattern == ".*");
}
