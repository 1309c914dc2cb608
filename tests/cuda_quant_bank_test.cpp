// The register-fragment kernel's shared-memory reads of packed 4-bit rows (quant_frag_attention.cu)
// in a model of the banks: packed 40-byte rows conflict, the strides of quant_frag_pad_stride do
// not. Host code only: runs without a GPU.
#ifdef LRKV_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "kernels/cuda/quant_attention_args.h"

namespace lrkv {
namespace {

// Shared-memory wavefronts of one warp-wide load in a model of the banks (32 banks of 4 bytes;
// lanes reading the same word share it): per phase of lanes_per_phase lanes, the most distinct
// words that fall in one bank. byte_addr[lane] < 0: the lane does not load.
int wavefronts(const std::vector<int>& byte_addr, int bytes_per_lane, int lanes_per_phase) {
  int total = 0;
  for (int p0 = 0; p0 < 32; p0 += lanes_per_phase) {
    std::map<int, std::set<int>> words;
    for (int lane = p0; lane < p0 + lanes_per_phase; ++lane) {
      if (byte_addr[lane] < 0) continue;
      for (int b = 0; b < bytes_per_lane; b += 4) {
        const int word = (byte_addr[lane] + b) / 4;
        words[word % 32].insert(word);
      }
    }
    size_t worst = 0;
    for (const auto& [bank, w] : words) worst = std::max(worst, w.size());
    total += static_cast<int>(worst);
  }
  return total;
}

// The fragment kernel's shared-memory reads of 4-bit rows (quant_frag_attention.cu) at row
// stride ld: keys, lane (g, t) loads 8 bytes of row g at hdr + 32h + 8t (64-column block h, in
// 16-lane phases); values, 4 bytes of row 2t at hdr + 32h + 4g (one phase). Padded strides take
// the minimum (2 and 1 wavefronts); packed 40-byte rows (seg-major caches) conflict on both.
// Runs without a GPU.
TEST(CudaQuantRows, PaddedFragmentRowsAreFreeOfBankConflicts) {
  const auto key_waves = [](int ld, int hdr, int h) {
    std::vector<int> a(32);
    for (int lane = 0; lane < 32; ++lane) a[lane] = (lane >> 2) * ld + hdr + 32 * h + 8 * (lane & 3);
    return wavefronts(a, 8, 16);
  };
  const auto value_waves = [](int ld, int hdr, int h) {
    std::vector<int> a(32);
    for (int lane = 0; lane < 32; ++lane) a[lane] = 2 * (lane & 3) * ld + hdr + 32 * h + 4 * (lane >> 2);
    return wavefronts(a, 4, 32);
  };
  // k_len 64 and 128, groups of 32: 4-byte scale + min per group, then the codes.
  for (const auto& [len, seg] : {std::pair{64, 40}, std::pair{128, 80}}) {
    const int hdr = len / 32 * 4;
    const int kld = cuda::quant_frag_pad_stride(seg, true), vld = cuda::quant_frag_pad_stride(seg, false);
    EXPECT_GE(kld, seg);
    EXPECT_GE(vld, seg);
    for (int h = 0; h < len / 64; ++h) {
      EXPECT_EQ(key_waves(kld, hdr, h), 2) << "keys, seg " << seg << " ld " << kld;
      EXPECT_EQ(value_waves(vld, hdr, h), 1) << "values, seg " << seg << " ld " << vld;
    }
  }
  EXPECT_EQ(cuda::quant_frag_pad_stride(40, true), 96);
  EXPECT_EQ(cuda::quant_frag_pad_stride(40, false), 48);
  EXPECT_EQ(key_waves(40, 8, 0), 4);    // packed: two-way conflicts in both key phases
  EXPECT_EQ(value_waves(40, 8, 0), 2);  // and in the value load
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
