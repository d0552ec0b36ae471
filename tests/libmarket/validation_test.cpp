#include "market/validation.hpp"

#include <catch2/catch.hpp>
#include <string>

using market::Errc;

TEST_CASE("project names are lower-cased and must be OCI repository components") {
  CHECK(market::NormalizeProjectName("projectName", "MyWeb").value() == "myweb");
  CHECK(market::NormalizeProjectName("projectName", "a.b-c_d9").value() == "a.b-c_d9");
  CHECK(market::NormalizeProjectName("projectName", std::string(64, 'a')).has_value());

  auto empty = market::NormalizeProjectName("projectName", "");
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == Errc::kInvalid);
  CHECK(empty.error().message == "projectName is required");

  auto longer = market::NormalizeProjectName("projectName", std::string(65, 'a'));
  REQUIRE_FALSE(longer);
  CHECK(longer.error().message == "projectName is longer than 64 characters");
}

TEST_CASE("each of the original's special characters is named in the message") {
  for (char c : std::string("!@#$%^&*()='\"/\\|<>{}[]+,:;?`~")) {
    const std::string name = std::string("ab") + c + "cd";
    auto result = market::NormalizeProjectName("projectName", name);
    INFO("name " << name);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::kInvalid);
    CHECK(result.error().message == std::string("projectName contains special char: ") + c);
  }
}

TEST_CASE("spaces, control characters and non-ASCII are refused") {
  CHECK(market::NormalizeProjectName("projectName", "a b").error().message ==
        "projectName contains special char: ' ' (space)");
  CHECK(market::NormalizeProjectName("projectName", "a\nb").error().message ==
        "projectName contains a control character (0x0a)");
  CHECK(market::NormalizeProjectName("projectName", "caf\xc3\xa9").error().message ==
        "projectName contains a non-ASCII character");
}

TEST_CASE("separators only between letters and digits") {
  for (const char* name : {".a", "a.", "a..b", "-a", "a_-b", "_"}) {
    INFO(name);
    auto result = market::NormalizeProjectName("dstProjectName", name);
    REQUIRE_FALSE(result);
    CHECK(result.error().message.starts_with("dstProjectName must start and end"));
  }
}

TEST_CASE("operators, tags") {
  CHECK(market::ValidateOperator("operator", "alice@example.com").has_value());
  CHECK(market::ValidateOperator("operator", "").error().message == "operator is required");
  CHECK(market::ValidateOperator("operator", "a<b").error().message ==
        "operator contains special char: <");

  CHECK(market::ValidateTag("tag", "v1.2_rc-3").has_value());
  CHECK(market::ValidateTag("tag", "_x").has_value());
  CHECK(market::ValidateTag("tag", std::string(128, 'a')).has_value());
  CHECK_FALSE(market::ValidateTag("tag", std::string(129, 'a')));
  CHECK(market::ValidateTag("tag", ".x").error().message ==
        "tag must start with a letter, digit or '_'");
  CHECK(market::ValidateTag("tag", "a:b").error().message == "tag contains special char: :");
}

TEST_CASE("paging parameters") {
  CHECK(market::ParsePage("page", "").value() == 1);
  CHECK(market::ParsePage("page", "7").value() == 7);
  CHECK(market::ParsePageSize("page_size", "").value() == 10);
  CHECK(market::ParsePageSize("page_size", "100").value() == 100);
  for (const char* bad : {"0", "-1", "abc", "1.5", " 1", "99999999999999"}) {
    INFO(bad);
    auto page = market::ParsePage("page", bad);
    REQUIRE_FALSE(page);
    CHECK(page.error().code == Errc::kInvalid);
    CHECK(page.error().message.starts_with("page must be"));
  }
  CHECK(market::ParsePageSize("page_size", "101").error().message ==
        "page_size must be at most 100");
}

TEST_CASE("the list filter is any text up to 64 characters") {
  CHECK(market::ValidateNameFilter("projectName", "%_*").value() == "%_*");
  CHECK_FALSE(market::ValidateNameFilter("projectName", std::string(65, 'a')));
  CHECK_FALSE(market::ValidateNameFilter("projectName", "a\x01"));
}

TEST_CASE("full commit ids are 40 or 64 hexadecimal digits") {
  CHECK(market::IsFullCommitId("4b825dc642cb6eb9a060e54bf8d69288fbee4904"));
  CHECK(market::IsFullCommitId("4B825DC642CB6EB9A060E54BF8D69288FBEE4904"));
  CHECK(market::IsFullCommitId(std::string(64, 'a')));
  CHECK_FALSE(market::IsFullCommitId("4b825dc"));
  CHECK_FALSE(market::IsFullCommitId(std::string(41, 'a')));
  CHECK_FALSE(market::IsFullCommitId("4b825dc642cb6eb9a060e54bf8d69288fbee490g"));
  CHECK_FALSE(market::IsFullCommitId(""));
}
