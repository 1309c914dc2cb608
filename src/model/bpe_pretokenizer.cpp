#include "model/bpe_pretokenizer.h"

#include <algorithm>
#include <string>

#include "model/utf8.h"

namespace lrkv {

namespace {
struct Range {
  uint32_t lo, hi;
};

// \p{N}: decimal digits of common scripts, super/subscripts, fractions, circled and CJK numerals.
constexpr Range kNumbers[] = {
    {0x30, 0x39},     {0xB2, 0xB3},       {0xB9, 0xB9},     {0xBC, 0xBE},     {0x660, 0x669},
    {0x6F0, 0x6F9},   {0x7C0, 0x7C9},     {0x966, 0x96F},   {0x9E6, 0x9EF},   {0xA66, 0xA6F},
    {0xAE6, 0xAEF},   {0xB66, 0xB6F},     {0xBE6, 0xBF2},   {0xC66, 0xC6F},   {0xCE6, 0xCEF},
    {0xD66, 0xD78},   {0xE50, 0xE59},     {0xED0, 0xED9},   {0xF20, 0xF33},   {0x1040, 0x1049},
    {0x1369, 0x137C}, {0x17E0, 0x17E9},   {0x1810, 0x1819}, {0x2070, 0x2070}, {0x2074, 0x2079},
    {0x2080, 0x2089}, {0x2150, 0x2182},   {0x2185, 0x2189}, {0x2460, 0x249B}, {0x24EA, 0x24FF},
    {0x2776, 0x2793}, {0x3007, 0x3007},   {0x3021, 0x3029}, {0x3038, 0x303A}, {0x3192, 0x3195},
    {0x3220, 0x3229}, {0x3248, 0x324F},   {0x3251, 0x325F}, {0x3280, 0x3289}, {0x32B1, 0x32BF},
    {0xFF10, 0xFF19}, {0x1D7CE, 0x1D7FF},
};

// \p{L}: letters of Latin (incl. Latin-1, Extended A-D, IPA), Greek, Cyrillic, Armenian, Hebrew,
// Arabic, Syriac, Thaana, Indic scripts (whole blocks less the vowel signs, viramas and other
// marks at the offsets the ISCII-derived blocks share; see indic_mark),
// Thai, Lao, Myanmar, Georgian, Hangul, Ethiopic, Cherokee, kana, Bopomofo, CJK, Yi,
// presentation forms, fullwidth Latin, halfwidth kana, math alphanumerics. Checked after kNumbers.
constexpr Range kLetters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xAA, 0xAA},     {0xB5, 0xB5},     {0xBA, 0xBA},
    {0xC0, 0xD6},       {0xD8, 0xF6},       {0xF8, 0x2C1},    {0x2C6, 0x2D1},   {0x2E0, 0x2E4},
    {0x2EC, 0x2EC},     {0x2EE, 0x2EE},     {0x370, 0x374},   {0x376, 0x377},   {0x37A, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x3FF},   {0x400, 0x481},   {0x48A, 0x52F},
    {0x531, 0x556},     {0x560, 0x588},     {0x5D0, 0x5EA},   {0x5EF, 0x5F2},   {0x620, 0x64A},
    {0x66E, 0x6D3},     {0x6D5, 0x6D5},     {0x6E5, 0x6E6},   {0x6EE, 0x6EF},   {0x6FA, 0x6FC},
    {0x6FF, 0x6FF},     {0x710, 0x74F},     {0x780, 0x7B1},   {0x900, 0x963},   {0x971, 0xDFF},
    {0xE01, 0xE30},     {0xE32, 0xE33},     {0xE40, 0xE46},   {0xE81, 0xEDF},   {0x1000, 0x109F},
    {0x10A0, 0x10FF},   {0x1100, 0x11FF},   {0x1200, 0x137F}, {0x13A0, 0x13FF}, {0x1E00, 0x1FBC},
    {0x2C00, 0x2CE4},   {0x2D00, 0x2D2F},   {0x3005, 0x3006}, {0x3031, 0x3035}, {0x3041, 0x3096},
    {0x309D, 0x309F},   {0x30A1, 0x30FA},   {0x30FC, 0x30FF}, {0x3105, 0x312F}, {0x3131, 0x318E},
    {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA48C}, {0xA640, 0xA66E}, {0xA722, 0xA788},
    {0xA78B, 0xA7FF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF}, {0xFB00, 0xFB06}, {0xFB1D, 0xFDFB},
    {0xFE70, 0xFEFC},   {0xFF21, 0xFF3A},   {0xFF41, 0xFF5A}, {0xFF66, 0xFFDC}, {0x10400, 0x1044F},
    {0x1D400, 0x1D7CB}, {0x20000, 0x2FA1F},
};

// Combining marks (\p{M}) and dandas at the offsets shared by the Indic blocks U+0900..U+0D7F.
bool indic_mark(uint32_t cp) {
  if (cp < 0x900 || cp >= 0xD80) return false;
  const uint32_t o = cp & 0x7F;
  return o <= 0x03 || (o >= 0x3A && o <= 0x3C) || (o >= 0x3E && o <= 0x4F) ||
         (o >= 0x51 && o <= 0x57) || (o >= 0x62 && o <= 0x65);
}

template <size_t N>
bool in_ranges(const Range (&r)[N], uint32_t cp) {
  const Range* it =
      std::upper_bound(r, r + N, cp, [](uint32_t c, const Range& x) { return c < x.lo; });
  return it != r && cp <= (it - 1)->hi;
}

enum Cls : uint8_t { kL, kN, kS, kO };  // letter, number, space, other

// The text as code points with their byte offsets and classes.
struct Chars {
  std::vector<uint32_t> cp;
  std::vector<Cls> cls;
  std::vector<size_t> off;  // off[i] = byte offset of cp[i]; off[n] = text size
  size_t n = 0;

  bool is(size_t i, Cls c) const { return i < n && cls[i] == c; }
  bool nl(size_t i) const { return i < n && (cp[i] == '\r' || cp[i] == '\n'); }
  bool ch(size_t i, uint32_t c) const { return i < n && cp[i] == c; }
  size_t run(size_t i, Cls c) const {  // end of the run of class c from i
    while (is(i, c)) ++i;
    return i;
  }
};

Chars decode(std::string_view text) {
  Chars c;
  for (size_t i = 0; i < text.size();) {
    c.off.push_back(i);
    const uint32_t cp = utf8_next(text, i);
    c.cp.push_back(cp);
    c.cls.push_back(unicode_is_space(cp)    ? kS
                    : unicode_is_number(cp) ? kN
                    : unicode_is_letter(cp) ? kL
                                            : kO);
  }
  c.n = c.cp.size();
  c.off.push_back(text.size());
  return c;
}

// 's|'t|'re|'ve|'m|'ll|'d, optionally ASCII case-insensitive; returns the end or i.
size_t contraction(const Chars& c, size_t i, bool ignore_case) {
  if (!c.ch(i, '\'')) return i;
  for (std::string_view suf : {"s", "t", "re", "ve", "m", "ll", "d"}) {
    size_t k = 0;
    for (; k < suf.size(); ++k) {
      const size_t j = i + 1 + k;
      const bool upper = ignore_case && c.ch(j, static_cast<uint32_t>(suf[k] - 'a' + 'A'));
      if (!c.ch(j, static_cast<uint32_t>(suf[k])) && !upper) break;
    }
    if (k == suf.size()) return i + 1 + k;
  }
  return i;
}

// The whitespace alternatives: [\s*[\r\n]+ |] \s+(?!\S) | \s+ ; c.is(i, kS) holds.
size_t whitespace(const Chars& c, size_t i, bool newline_rule) {
  const size_t j = c.run(i, kS);
  if (newline_rule) {
    for (size_t k = j; k > i; --k) {  // \s* backtracks to the last newline of the run
      if (c.nl(k - 1)) return k;
    }
  }
  if (j == c.n || j - 1 == i) return j;
  return j - 1;  // leave one space to prefix the next word
}

// One match of the Llama-3 (max_digits 3) or Qwen2 (max_digits 1) pattern at i.
size_t match_llama3(const Chars& c, size_t i, size_t max_digits) {
  if (size_t e = contraction(c, i, true); e > i) return e;
  size_t j = i;  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (!c.nl(i) && !c.is(i, kL) && !c.is(i, kN) && c.is(i + 1, kL)) j = i + 1;
  if (c.is(j, kL)) return c.run(j, kL);
  if (c.is(i, kN)) return std::min(c.run(i, kN), i + max_digits);  // \p{N}{1,max}
  j = c.ch(i, ' ') && c.is(i + 1, kO) ? i + 1 : i;                 // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  if (c.is(j, kO)) {
    j = c.run(j, kO);
    while (c.nl(j)) ++j;
    return j;
  }
  return c.is(i, kS) ? whitespace(c, i, true) : i + 1;
}

// One match of the GPT-2 pattern at i.
size_t match_gpt2(const Chars& c, size_t i) {
  if (size_t e = contraction(c, i, false); e > i) return e;
  for (Cls cls : {kL, kN, kO}) {  // ' ?\p{L}+' | ' ?\p{N}+' | ' ?[^\s\p{L}\p{N}]+'
    const size_t j = c.ch(i, ' ') && c.is(i + 1, cls) ? i + 1 : i;
    if (c.is(j, cls)) return c.run(j, cls);
  }
  return c.is(i, kS) ? whitespace(c, i, false) : i + 1;
}
}  // namespace

bool unicode_is_letter(uint32_t cp) { return in_ranges(kLetters, cp) && !indic_mark(cp); }
bool unicode_is_number(uint32_t cp) { return in_ranges(kNumbers, cp); }
bool unicode_is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

PreTokenizer pretokenizer_from_name(std::string_view name) {
  if (name == "llama3" || name == "llama-bpe" || name == "smaug-bpe") return PreTokenizer::kLlama3;
  if (name == "qwen2") return PreTokenizer::kQwen2;
  return PreTokenizer::kGpt2;
}

std::vector<std::string_view> pretokenize(std::string_view text, PreTokenizer kind) {
  const Chars c = decode(text);
  std::vector<std::string_view> out;
  for (size_t i = 0; i < c.n;) {
    size_t e = kind == PreTokenizer::kGpt2
                   ? match_gpt2(c, i)
                   : match_llama3(c, i, kind == PreTokenizer::kLlama3 ? 3 : 1);
    if (e <= i) e = i + 1;
    out.push_back(text.substr(c.off[i], c.off[e] - c.off[i]));
    i = e;
  }
  return out;
}

}  // namespace lrkv
