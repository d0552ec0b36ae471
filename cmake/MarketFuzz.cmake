# -DMARKET_FUZZ=ON (with a clang compiler) builds everything with libFuzzer's coverage
# instrumentation plus AddressSanitizer and UndefinedBehaviorSanitizer; tests/fuzz then adds one
# fuzzer executable per harness (scripts/fuzz.sh configures, builds and runs them).
# scripts/fuzz.sh also loads it through CMAKE_PROJECT_INCLUDE; the guard makes that harmless.
include_guard(GLOBAL)
option(MARKET_FUZZ "Build the libFuzzer harnesses of tests/fuzz (needs clang)" OFF)
if(MARKET_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MARKET_FUZZ needs clang (libFuzzer), e.g. -DCMAKE_CXX_COMPILER=clang++-16")
  endif()
  if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 16)
    # libstdc++ 12's <expected> needs conditionally trivial special members (P0848), which clang
    # implements from version 16 on; clang 14 and 15 cannot compile market::Result.
    message(FATAL_ERROR "MARKET_FUZZ needs clang 16 or newer (std::expected with libstdc++), "
                        "found ${CMAKE_CXX_COMPILER_VERSION}")
  endif()
  # Clang 16 implements P0848 but still reports __cpp_concepts 201907L, so libstdc++ hides
  # <expected>. The value it checks for is what clang actually supports here.
  if(CMAKE_CXX_COMPILER_VERSION VERSION_LESS 19)
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-U__cpp_concepts>
                        $<$<COMPILE_LANGUAGE:CXX>:-D__cpp_concepts=202002L>)
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  # Only the harnesses get libFuzzer's main: market_add_fuzzer(name sources...).
  function(market_add_fuzzer name)
    add_executable(${name} ${ARGN})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endfunction()
endif()
