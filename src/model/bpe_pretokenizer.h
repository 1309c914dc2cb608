// Regex-style pre-tokenizers of byte-level BPE tokenizers, written by hand (no regex library):
//  kGpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//  kLlama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//  kQwen2:  as kLlama3 with \p{N} (single digits) instead of \p{N}{1,3}
// Unicode classes are approximated (see unicode_is_letter / unicode_is_number): ASCII is exact;
// other code points use block ranges of the common scripts (Indic vowel signs and viramas, which
// are \p{M}, are excluded by their shared offsets), so some combining marks and symbols inside
// those blocks count as letters here, and letters of scripts outside the listed blocks count as
// punctuation. Invalid UTF-8 bytes are punctuation-like.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace lrkv {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2 };

// "llama3"/"llama-bpe"/"smaug-bpe" -> kLlama3, "qwen2" -> kQwen2, everything else -> kGpt2.
PreTokenizer pretokenizer_from_name(std::string_view name);

// Approximations of \p{L}, \p{N} and \s for one code point.
bool unicode_is_letter(uint32_t cp);
bool unicode_is_number(uint32_t cp);
bool unicode_is_space(uint32_t cp);

// Splits `text` into pre-tokens (views of `text`, in order, covering it exactly).
std::vector<std::string_view> pretokenize(std::string_view text, PreTokenizer kind);

}  // namespace lrkv
