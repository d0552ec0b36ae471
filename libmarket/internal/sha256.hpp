#pragma once
// SHA-256 (OpenSSL) as lower-case hex: token digests and OCI content digests ("sha256:" + it).

#include <string>
#include <string_view>

namespace market {

std::string Sha256Hex(std::string_view bytes);

}  // namespace market
