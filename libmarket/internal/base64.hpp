#pragma once
// Standard base64 (RFC 4648 section 4, with padding): registry auth files and Basic credentials.

#include <optional>
#include <string>
#include <string_view>

namespace market {

std::string Base64Encode(std::string_view bytes);

// Strict: the length is a multiple of 4, '=' only as the final padding, no whitespace or other
// alphabets, and the bits the padding leaves over are zero, so each text decodes one way only.
// Nullopt for anything else.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace market
