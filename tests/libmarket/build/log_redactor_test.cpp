#include "build/log_redactor.hpp"

#include <catch2/catch.hpp>

#include "base64.hpp"

namespace market {
namespace {

TEST_CASE("Base64Encode follows RFC 4648", "[build]") {
  CHECK(Base64Encode("") == "");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("foo") == "Zm9v");
  CHECK(Base64Encode("user:pass") == "dXNlcjpwYXNz");
}

TEST_CASE("LogRedactor masks secrets and their base64 auth forms", "[build]") {
  LogRedactor r;
  r.Add("pass", "user");
  r.Add("");  // nothing to mask
  CHECK(r.Redact("login pass, again pass") == "login ******, again ******");
  CHECK(r.Redact("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic ******");
  CHECK(r.Redact("nothing here") == "nothing here");
  LogRedactor nested;
  nested.Add("abc");
  nested.Add("xabcx");
  CHECK(nested.Redact("1 xabcx 2 abc") == "1 ****** 2 ******");
}

}  // namespace
}  // namespace market
