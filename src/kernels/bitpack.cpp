#include "kernels/bitpack.h"

#include <cstring>

#include "core/status.h"

namespace lrkv {

void pack_bits(const uint8_t* codes, int64_t n, int bits, uint8_t* dst) {
  LRKV_CHECK(bits >= 1 && bits <= 8, "pack_bits: {} bits", bits);
  std::memset(dst, 0, packed_bytes(n, bits));
  if (bits == 8) {
    std::memcpy(dst, codes, n);
    return;
  }
  const uint32_t limit = 1u << bits;
  uint32_t acc = 0;  // pending bits, LSB first
  int n_acc = 0;
  uint8_t* out = dst;
  for (int64_t i = 0; i < n; ++i) {
    LRKV_CHECK(codes[i] < limit, "pack_bits: code {} at {} exceeds {} bits", codes[i], i, bits);
    acc |= static_cast<uint32_t>(codes[i]) << n_acc;
    n_acc += bits;
    while (n_acc >= 8) {
      *out++ = static_cast<uint8_t>(acc);
      acc >>= 8;
      n_acc -= 8;
    }
  }
  if (n_acc > 0) *out = static_cast<uint8_t>(acc);
}

namespace ref {

void unpack_bits(const uint8_t* src, int64_t first, int64_t n, int bits, uint8_t* codes) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t c = 0;
    for (int b = 0; b < bits; ++b) {
      const int64_t k = (first + i) * bits + b;
      c |= static_cast<uint32_t>((src[k / 8] >> (k % 8)) & 1u) << b;
    }
    codes[i] = static_cast<uint8_t>(c);
  }
}

}  // namespace ref

namespace cpu {

namespace {
// Codes of a byte-aligned run with 8 % bits == 0 (1, 2, 4 bits).
void unpack_aligned(const uint8_t* src, int64_t n, int bits, uint8_t* codes) {
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  int64_t i = 0;
  if (bits == 4) {
    for (; i + 2 <= n; i += 2, ++src) {
      codes[i] = *src & 15;
      codes[i + 1] = *src >> 4;
    }
  } else if (bits == 2) {
    for (; i + 4 <= n; i += 4, ++src) {
      const uint8_t b = *src;
      codes[i] = b & 3;
      codes[i + 1] = (b >> 2) & 3;
      codes[i + 2] = (b >> 4) & 3;
      codes[i + 3] = b >> 6;
    }
  }
  for (int s = 0; i < n; ++i, s += bits) {
    if (s == 8) {
      s = 0;
      ++src;
    }
    codes[i] = (*src >> s) & mask;
  }
}
}  // namespace

void unpack_bits(const uint8_t* src, int64_t first, int64_t n, int bits, uint8_t* codes) {
  if (n <= 0) return;
  if (bits == 8) {
    std::memcpy(codes, src + first, n);
    return;
  }
  const int64_t bit0 = first * bits;
  if (8 % bits == 0 && bit0 % 8 == 0) return unpack_aligned(src + bit0 / 8, n, bits, codes);
  // General case (3, 5, 6, 7 bits or unaligned start): a 64-bit accumulator refilled bytewise.
  const uint8_t* p = src + bit0 / 8;
  uint64_t acc = *p++ >> (bit0 % 8);
  int n_acc = 8 - static_cast<int>(bit0 % 8);
  const uint64_t mask = (1u << bits) - 1;
  for (int64_t i = 0; i < n; ++i) {
    while (n_acc < bits) {
      acc |= static_cast<uint64_t>(*p++) << n_acc;
      n_acc += 8;
    }
    codes[i] = static_cast<uint8_t>(acc & mask);
    acc >>= bits;
    n_acc -= bits;
  }
}

}  // namespace cpu
}  // namespace lrkv
