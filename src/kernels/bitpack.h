// Dense bit packing of unsigned integer codes of 1..8 bits, the storage of every quantized cache.
// Layout (little-endian, LSB first): code i occupies bits [i*b, (i+1)*b) of the stream, where
// stream bit k is bit (k % 8) of byte k / 8. A run of n codes takes ceil(n*b / 8) bytes; the
// unused high bits of the last byte are zero. 3-bit codes straddle byte boundaries.
// All functions are pure and thread-safe; cost O(n).
#pragma once

#include <cstdint>

namespace lrkv {

constexpr int64_t packed_bytes(int64_t n, int bits) { return (n * bits + 7) / 8; }

// Writes packed_bytes(n, bits) bytes to dst. codes[i] must be < 2^bits (checked).
void pack_bits(const uint8_t* codes, int64_t n, int bits, uint8_t* dst);

// Reads codes [first, first + n) of a packed stream. Reads only bytes that hold those codes.
namespace ref {
void unpack_bits(const uint8_t* src, int64_t first, int64_t n, int bits,
                 uint8_t* codes);  // bit by bit
}
namespace cpu {
void unpack_bits(const uint8_t* src, int64_t first, int64_t n, int bits,
                 uint8_t* codes);  // word-wise
}

}  // namespace lrkv
