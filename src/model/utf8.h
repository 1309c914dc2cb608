// Small UTF-8 helpers shared by the tokenizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lrkv {

// Length of the UTF-8 sequence starting with byte `b` (1 for invalid lead bytes).
inline size_t utf8_char_len(uint8_t b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

// Appends code point `cp` encoded as UTF-8.
void utf8_append(std::string& s, uint32_t cp);
// Decodes the code point at s[i], advancing i; invalid bytes give U+FFFD and advance by 1.
uint32_t utf8_next(std::string_view s, size_t& i);
// Strict validity: no stray continuation bytes, truncated sequences, overlong forms, surrogates
// or code points above U+10FFFF.
bool utf8_valid(std::string_view s);
// Length of the longest prefix of s that ends on a complete UTF-8 character.
size_t utf8_complete_prefix(std::string_view s);

}  // namespace lrkv
