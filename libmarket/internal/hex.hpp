#pragma once
// Lower-case hex of bytes: digests, signatures and ids written as text.

#include <string>
#include <string_view>

namespace market {

std::string HexEncode(std::string_view bytes);

}  // namespace market
