// JsonText writes exactly what nlohmann's dump(-1, ' ', false, replace) writes: checked on
// hand-picked edge cases and on random documents.

#include "json_text.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

using market::server::JsonText;
using nlohmann::json;

namespace {

std::string Reference(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A string of `length` bytes: mostly letters, sometimes any byte (quotes, control characters,
// non-ASCII, invalid UTF-8).
std::string RandomString(std::mt19937& random, int length) {
  std::string out;
  for (int i = 0; i < length; ++i) {
    if (random() % 8 == 0) {
      out += static_cast<char>(random() % 256);
    } else {
      out += static_cast<char>('a' + random() % 26);
    }
  }
  return out;
}

json RandomValue(std::mt19937& random, int depth) {
  switch (random() % (depth > 3 ? 6 : 8)) {
    case 0: return nullptr;
    case 1: return random() % 2 == 0;
    case 2: return static_cast<std::int64_t>(random()) - (1LL << 31);
    case 3: return static_cast<std::uint64_t>(random()) << 32 | random();
    case 4: return std::ldexp(static_cast<double>(random()) - 2e9, static_cast<int>(random() % 200) - 100);
    case 5: return RandomString(random, static_cast<int>(random() % 20));
    case 6: {
      json array = json::array();
      for (int i = static_cast<int>(random() % 5); i > 0; --i) {
        array.push_back(RandomValue(random, depth + 1));
      }
      return array;
    }
    default: {
      json object = json::object();
      for (int i = static_cast<int>(random() % 5); i > 0; --i) {
        object[RandomString(random, static_cast<int>(random() % 8))] = RandomValue(random, depth + 1);
      }
      return object;
    }
  }
}

}  // namespace

TEST_CASE("json text: edge cases match nlohmann's dump", "[json_text]") {
  const json cases[] = {
      nullptr,
      true,
      false,
      0,
      -1,
      std::numeric_limits<std::int64_t>::min(),
      std::numeric_limits<std::int64_t>::max(),
      std::numeric_limits<std::uint64_t>::max(),
      0.1,
      -0.0,
      1e300,
      std::nan(""),
      std::numeric_limits<double>::infinity(),
      "",
      "plain text with spaces ~!@#$%^&*()",
      "quote \" backslash \\ slash /",
      std::string("control \x01\x1f\b\f\n\r\t and nul ") + std::string(1, '\0'),
      "unicode ünïcödé 中文 \xF0\x9F\x98\x80",
      "invalid \xC3\x28 utf-8 \xFF",
      "del \x7F",
      json::array(),
      json::object(),
      json::parse(R"({"b":[1,2,{"c":null}],"a":"x","":{"nested":[[]]}})"),
      json::binary({1, 2, 3}),
  };
  for (const json& value : cases) {
    CAPTURE(Reference(value));
    CHECK(JsonText(value) == Reference(value));
  }
}

TEST_CASE("json text: random documents match nlohmann's dump", "[json_text]") {
  std::mt19937 random(20261129);
  for (int i = 0; i < 2000; ++i) {
    json value = RandomValue(random, 0);
    std::string expected = Reference(value);
    CAPTURE(i, expected);
    REQUIRE(JsonText(value) == expected);
  }
}
