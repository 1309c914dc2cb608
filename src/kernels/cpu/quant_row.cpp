#include "kernels/quant_row.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/bitpack.h"

namespace lrkv::cpu {

namespace {

void load_scales(const uint8_t* p, int n, float* out) {
  f16_bits h[64];
  for (int b = 0; b < n; b += 64) {
    const int m = std::min(64, n - b);
    std::memcpy(h, p + 2 * b, 2 * m);
    convert_f16_to_f32(h, out + b, m);
  }
}

void decode_ggml(const QuantFormat& f, const uint8_t* src, int n, float* out) {
  const bool q8 = f.scheme == QuantScheme::kQ8_0;
  for (int b = 0; b < n / 32; ++b, out += 32) {
    f16_bits h;
    std::memcpy(&h, src, 2);
    const float d = f16_to_f32(h);
    if (q8) {
      const auto* q = reinterpret_cast<const int8_t*>(src + 2);
      for (int j = 0; j < 32; ++j) out[j] = d * static_cast<float>(q[j]);
      src += 34;
    } else {
      for (int j = 0; j < 16; ++j) {
        out[j] = d * static_cast<float>((src[2 + j] & 15) - 8);
        out[j + 16] = d * static_cast<float>((src[2 + j] >> 4) - 8);
      }
      src += 18;
    }
  }
}

}  // namespace

void decode_segment(const QuantFormat& f, const uint8_t* src, int n, float* out) {
  if (f.scheme == QuantScheme::kQ8_0 || f.scheme == QuantScheme::kQ4_0)
    return decode_ggml(f, src, n, out);
  const bool sym = f.scheme == QuantScheme::kSymmetric;
  const int gs = f.group > 0 ? f.group : n;
  const int ng = segment_groups(f, n);
  uint8_t codes_stack[1024];
  float sc_stack[2 * 256];
  std::vector<uint8_t> codes_heap;
  std::vector<float> sc_heap;
  uint8_t* codes = codes_stack;
  float* sc = sc_stack;  // scales [ng], then mins [ng]
  if (n > 1024) codes = (codes_heap.resize(n), codes_heap.data());
  if (ng > 256) sc = (sc_heap.resize(2 * ng), sc_heap.data());
  load_scales(src, sym ? ng : 2 * ng, sc);
  unpack_bits(src + int64_t{ng} * (sym ? 2 : 4), 0, n, f.bits, codes);
  const float q = static_cast<float>((1 << (f.bits - 1)) - 1);
  for (int g = 0; g < ng; ++g) {
    const int b = g * gs, e = std::min(n, b + gs);
    const float s = sc[g];
    if (sym) {
      for (int i = b; i < e; ++i) out[i] = s * (static_cast<float>(codes[i]) - q);
    } else {
      const float m = sc[ng + g];
      for (int i = b; i < e; ++i) out[i] = s * static_cast<float>(codes[i]) + m;
    }
  }
}

void decode_row(const RowCodec& c, const uint8_t* row, float* out) {
  for (const RowSegment& s : c.segments) decode_segment(c.format, row + s.byte, s.len, out + s.col);
}

}  // namespace lrkv::cpu
