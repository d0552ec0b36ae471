# market_set_warnings(target): the project's warning set, applied per target.
option(MARKET_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)
function(market_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
  if(MARKET_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
