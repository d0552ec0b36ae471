#pragma once
// The globs people write to pick repositories and tags (webhook filters, retention rules).

#include <string_view>

namespace market {

// "*" matches any run of characters ('/' too), "?" one character; the rest literally.
bool GlobMatches(std::string_view glob, std::string_view text);

}  // namespace market
