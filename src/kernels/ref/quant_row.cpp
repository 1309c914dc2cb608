#include "kernels/quant_row.h"

#include <cstring>
#include <vector>

#include "kernels/bitpack.h"

namespace lrkv::ref {

namespace {
float f16_at(const uint8_t* p) {
  f16_bits h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
}  // namespace

void decode_segment(const QuantFormat& f, const uint8_t* src, int n, float* out) {
  if (f.scheme == QuantScheme::kQ8_0 || f.scheme == QuantScheme::kQ4_0) {
    const bool q8 = f.scheme == QuantScheme::kQ8_0;
    for (int i = 0; i < n; ++i) {
      const uint8_t* blk = src + (i / 32) * (q8 ? 34 : 18);
      const int j = i % 32;
      const double d = f16_at(blk);
      const int q = q8 ? static_cast<int8_t>(blk[2 + j])
                       : ((j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4) - 8);
      out[i] = static_cast<float>(d * q);
    }
    return;
  }
  const bool sym = f.scheme == QuantScheme::kSymmetric;
  const int gs = f.group > 0 ? f.group : n;
  const int ng = segment_groups(f, n);
  std::vector<uint8_t> codes(n);
  unpack_bits(src + int64_t{ng} * (sym ? 2 : 4), 0, n, f.bits, codes.data());
  const int q = (1 << (f.bits - 1)) - 1;
  for (int i = 0; i < n; ++i) {
    const int g = i / gs;
    const double s = f16_at(src + 2 * g);
    out[i] = sym ? static_cast<float>(s * (codes[i] - q))
                 : static_cast<float>(s * codes[i] + f16_at(src + 2 * (ng + g)));
  }
}

}  // namespace lrkv::ref
