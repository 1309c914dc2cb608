// Row codec of the quantized KV caches. A cache row (one token's keys or values, dense or latent)
// is split into segments -- the KV heads of a dense row, the rank groups' slices of a latent row --
// and each segment is quantized on its own, so attention decodes exactly the slice a head reads.
//
// Schemes, per quantisation group of `group` consecutive values of a segment (the last group of a
// segment may be shorter; group 0 = the whole segment is one group):
//   kAffine     x ~ s*u + m,      u in [0, 2^b - 1]    m = fp16(min x) rounded down,
//                                                      s = fp16((max x - m) / (2^b - 1)) rounded up
//   kSymmetric  x ~ s*(u - q),    u in [0, 2q],        q = 2^(b-1) - 1 (2 bits: -s, 0, s),
//                                                      s = fp16(max|x| / q) rounded up
//   kQ8_0/kQ4_0 llama.cpp's blocks of 32 (kernels/ggml_quants.h), the dense baselines; segments must be
//               multiples of 32 long.
// u = round-to-nearest, clamped. Rounding s up and m down keeps every value inside the grid, so
// for affine/symmetric |x - decode(x)| <= s/2 with s the stored fp16 scale, up to the float
// rounding of x - m and s*u + m. Inputs must be finite; beyond the fp16 range they saturate.
//
// Segment layout (bytes, packed; only the last code byte has padding bits):
//   affine:    fp16 scale[n_groups] | fp16 min[n_groups] | codes, b bits each (bitpack.h)
//   symmetric: fp16 scale[n_groups] | codes
//   q8_0/q4_0: n/32 GGML blocks (34 / 18 bytes)
// bytes(segment of n) = n_groups * (4 affine | 2 symmetric) + ceil(n*b / 8); a row is its
// segments in order, row_bytes = the sum.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace lrkv {

enum class QuantScheme : uint8_t { kAffine, kSymmetric, kQ8_0, kQ4_0 };

struct QuantFormat {
  QuantScheme scheme = QuantScheme::kAffine;
  int bits = 4;              // affine 1..8, symmetric 2..8; q8_0 = 8, q4_0 = 4
  int group = 32;            // values per scale; 0 = whole segment; q8_0/q4_0: 32
  std::string name() const;  // "int4 asym g32", "int3 sym g-slice", "q8_0"
  Status validate() const;
};
QuantFormat q8_0_format();
QuantFormat q4_0_format();

int segment_groups(const QuantFormat& f, int n);     // quantisation groups in n values
int64_t segment_bytes(const QuantFormat& f, int n);  // the formula above

struct RowSegment {
  int col = 0;       // first column of the row
  int len = 0;       // values
  int64_t byte = 0;  // byte offset in the encoded row
};

// The encoding of rows of `width` values split into segments of the given lengths.
struct RowCodec {
  QuantFormat format;
  std::vector<RowSegment> segments;
  int width = 0;
  int64_t row_bytes = 0;
  // Errors name the bad format or segment (e.g. q4_0 with a segment of 48).
  static Result<RowCodec> create(const QuantFormat& format, const std::vector<int>& segment_lens);
};

// Encoding (one implementation; its error bound is tested against the analytic one).
void encode_segment(const QuantFormat& f, const float* x, int n, uint8_t* dst);
void encode_row(const RowCodec& c, const float* x, uint8_t* row);

namespace ref {
// Scalar decode through ref::unpack_bits: the oracle.
void decode_segment(const QuantFormat& f, const uint8_t* src, int n, float* out);
}  // namespace ref
namespace cpu {
// Vectorisable decode (word-wise unpacking, one pass per group). Same values as ref.
void decode_segment(const QuantFormat& f, const uint8_t* src, int n, float* out);
void decode_row(const RowCodec& c, const uint8_t* row, float* out);
}  // namespace cpu

// fp16 rounding toward -inf / +inf (finite inputs; saturates at +-65504).
f16_bits f16_round_down(float x);
f16_bits f16_round_up(float x);

// The affine rule above for one group with range [lo, hi]: stored scale and minimum.
struct AffineRange {
  f16_bits scale = 0, min = 0;
};
AffineRange affine_range(float lo, float hi, int bits);
// Code of x on the grid (s, m) with 2^bits levels; s = 0 gives 0.
uint8_t affine_code(float x, float s, float m, int bits);

}  // namespace lrkv
