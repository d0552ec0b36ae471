#include "hex.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace market {
namespace {

TEST_CASE("HexEncode writes two lower-case digits per byte, every byte included", "[hex]") {
  CHECK(HexEncode("") == "");
  CHECK(HexEncode("abc") == "616263");
  CHECK(HexEncode(std::string("\x00\x0f\xa0\xff", 4)) == "000fa0ff");
}

}  // namespace
}  // namespace market
