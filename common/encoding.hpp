#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace ferry {

// Lower-case hexadecimal of the bytes.
std::string HexEncode(std::span<const uint8_t> bytes);

// Decodes hexadecimal (either case) into exactly out.size() bytes; false on any other length or a
// non-hex character.
[[nodiscard]] bool HexDecodeInto(std::string_view hex, std::span<uint8_t> out);

// Decodes hexadecimal of any even length.
Result<std::vector<uint8_t>> HexDecode(std::string_view hex);

// True when `text` is exactly `digits` characters of [0-9a-f]: the one spelling of hashes and ids
// that HexEncode writes, which strict parsers accept and nothing else.
bool IsLowerHex(std::string_view text, size_t digits);

// Standard base64 (RFC 4648, with padding).
std::string Base64Encode(std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> Base64Decode(std::string_view text);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace ferry
