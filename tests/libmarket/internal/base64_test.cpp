#include "base64.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace market {
namespace {

TEST_CASE("Base64Encode matches RFC 4648's test vectors", "[base64]") {
  CHECK(Base64Encode("") == "");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("foo") == "Zm9v");
  CHECK(Base64Encode("foob") == "Zm9vYg==");
  CHECK(Base64Encode("fooba") == "Zm9vYmE=");
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode("admin:pw") == "YWRtaW46cHc=");
}

TEST_CASE("Base64Encode uses the standard alphabet for every byte", "[base64]") {
  CHECK(Base64Encode(std::string("\xfb\xff\xbf", 3)) == "+/+/");
  CHECK(Base64Encode(std::string("\0\0\0", 3)) == "AAAA");
  CHECK(Base64Encode(std::string("\0", 1)) == "AA==");
}

TEST_CASE("Base64Decode reverses Base64Encode for every byte value", "[base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t length = 0; length <= all.size(); length += 1) {
    const std::string bytes = all.substr(0, length);
    auto decoded = Base64Decode(Base64Encode(bytes));
    REQUIRE(decoded);
    CHECK(*decoded == bytes);
  }
  CHECK(Base64Decode("Zm9vYmFy") == std::string("foobar"));
  CHECK(Base64Decode("Zm8=") == std::string("fo"));
  CHECK(Base64Decode("Zg==") == std::string("f"));
  CHECK(Base64Decode("") == std::string());
}

TEST_CASE("Base64Decode refuses anything but canonical padded base64", "[base64]") {
  for (const char* bad : {
           "Zg",        // padding missing
           "Zg=",       // padding short
           "Zm8",       // padding missing
           "Zg===",     // too much padding
           "====",      // padding only
           "Z===",      // one symbol cannot make a byte
           "Zg==Zg==",  // padding in the middle
           "Z=g=",      // '=' between symbols
           "Zh==",      // left-over bits not zero
           "Zm9=",      // left-over bits not zero
           "Zm9v\n",    // whitespace
           "Zm 9v",     // whitespace inside
           "Zm9v YmFy",
           "Zm9-",      // base64url alphabet
           "Zm9_",
           "Zm9v!A==",  // not in any alphabet
       }) {
    INFO(bad);
    CHECK_FALSE(Base64Decode(bad));
  }
  CHECK_FALSE(Base64Decode(std::string("Zm9\0", 4)));
  CHECK_FALSE(Base64Decode(std::string("Zm9\xc3", 4)));
}

}  // namespace
}  // namespace market
