# -DMARKET_SANITIZE=ON builds everything with AddressSanitizer and UndefinedBehaviorSanitizer.
# UBSan's vptr check is off: it needs the typeinfo of every polymorphic class it meets, and
# Debian's SOCI exports none for its statement and backend classes (the link fails).
option(MARKET_SANITIZE "Build with ASan and UBSan" OFF)
if(MARKET_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr)
endif()
