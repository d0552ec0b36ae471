// libFuzzer harness: CheckRegistryParsing (fuzz_checks.hpp) on every input; a broken property aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto problem = market::fuzz::CheckRegistryParsing(input)) {
    std::fprintf(stderr, "registry_response: %s\n", problem->c_str());
    std::abort();
  }
  return 0;
}
