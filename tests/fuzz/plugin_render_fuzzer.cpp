// libFuzzer harness: CheckPluginRendering (fuzz_checks.hpp) on every input; a broken property aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto problem = market::fuzz::CheckPluginRendering(input)) {
    std::fprintf(stderr, "plugin_render: %s\n", problem->c_str());
    std::abort();
  }
  return 0;
}
