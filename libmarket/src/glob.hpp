#pragma once
// The globs people write to pick repositories and tags (immutability and retention rules,
// webhook filters): one meaning everywhere, Harbor's.

#include <string_view>

namespace market {

// Whether `glob` matches the whole of `text`: `*` matches any run of characters but `/`, `**`
// any run including `/`, `?` one character but `/`; anything else matches itself. Time is
// proportional to the glob's length times the text's, whatever the wildcards.
bool GlobMatches(std::string_view glob, std::string_view text);

}  // namespace market
