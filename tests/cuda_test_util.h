// Helpers of the CUDA tests (compiled only with LRKV_HAVE_CUDA): device skip,
// dtype rounding, relative error ‖out − ref‖ / ‖ref‖ with the worst element.
#pragma once

#ifdef LRKV_HAVE_CUDA

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/elem.h"
#include "test_util.h"

// Skips without a device; fails at once when an earlier test of this process left the CUDA
// context broken (an illegal address is sticky: every later CUDA call fails with it), naming the
// cause instead of letting the test fail somewhere unrelated (cuda_context_check_test.cpp names
// the test after which it broke).
#define LRKV_REQUIRE_CUDA()                                                        \
  do {                                                                             \
    std::string lrkv_why_;                                                         \
    if (!::lrkv::cuda::device_available(&lrkv_why_)) GTEST_SKIP() << "no CUDA device: " << lrkv_why_; \
    const std::string lrkv_broken_ = ::lrkv::test::cuda_context_error();           \
    if (!lrkv_broken_.empty()) {                                                   \
      FAIL() << "the CUDA context was broken by an earlier test of this process (" << lrkv_broken_ \
             << "); see the '[cuda context]' line after that test";                \
    }                                                                              \
  } while (0)

#define LRKV_ASSERT_OK(expr)                                    \
  do {                                                          \
    const ::lrkv::Status lrkv_s_ = (expr);                      \
    ASSERT_TRUE(lrkv_s_.ok()) << lrkv_s_.to_string();           \
  } while (0)

namespace lrkv::test {

// "" while the device's context works, else the sticky error's name and text (a device
// synchronisation reports it). A non-sticky error an earlier call left behind (a rejected launch)
// is cleared first: it says nothing about the context.
inline std::string cuda_context_error() {
  (void)cudaGetLastError();
  const cudaError_t e = cudaDeviceSynchronize();
  if (e == cudaSuccess) return "";
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

// `v` stored as dtype t (rounded), as raw bytes.
inline std::vector<uint8_t> to_dtype(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> out(dtype_bytes(t, static_cast<int64_t>(v.size())));
  store_row(out.data(), t, v.data(), static_cast<int64_t>(v.size()));
  return out;
}

struct RelErr {
  double rel = 0.0;        // ‖out − ref‖ / ‖ref‖
  double worst = 0.0;      // largest |out − ref|
  size_t worst_at = 0;
  size_t non_finite = 0;   // NaN/inf outputs (unwritten poison)
};

inline RelErr rel_err(const std::vector<float>& out, const std::vector<float>& ref) {
  RelErr e;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) {
      ++e.non_finite;
      continue;
    }
    const double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
    if (std::fabs(d) > e.worst) {
      e.worst = std::fabs(d);
      e.worst_at = i;
    }
  }
  e.rel = std::sqrt(num / (den > 0 ? den : 1.0));
  return e;
}

// bf16 ~1e-2, f16 ~1e-3 (operands rounded to the type, f32 accumulation).
inline double tolerance(DType t) { return t == DType::kBF16 ? 1e-2 : 2e-3; }

inline std::string describe(const RelErr& e, const std::vector<float>& out, const std::vector<float>& ref) {
  return "rel err " + std::to_string(e.rel) + ", worst |diff| " + std::to_string(e.worst) + " at " +
         std::to_string(e.worst_at) + " (out " + std::to_string(out[e.worst_at]) + ", ref " +
         std::to_string(ref[e.worst_at]) + "), non-finite " + std::to_string(e.non_finite);
}

// A paged copy (cache/block_pool.h layout, kernels/row_map.h) of a contiguous cache layout of
// n_regions regions (segments, KV heads; 1 for token rows): row j of sequence b in region r at
//   src + b * seq_bytes + r * region_bytes + j * stride        (contiguous, rows j < cap)
// goes to storage row table_b[j / B] * B + j % B of region r, regions storage_rows * stride
// bytes apart. Every sequence's blocks come from a seeded shuffle of all blocks (two spare), so
// they are neither consecutive nor in order; storage rows nobody maps stay 0xFF (NaN in f16).
struct PagedCopy {
  std::vector<uint8_t> bytes;
  std::vector<int32_t> tables;  // [n_seq][ld]
  int64_t ld = 0;
  int shift = 0;
  int64_t storage_rows = 0;
};

inline PagedCopy page_layout(const std::vector<uint8_t>& src, int n_seq, int cap, int n_regions, int64_t seq_bytes,
                             int64_t region_bytes, int64_t stride, int block_rows, uint32_t seed) {
  PagedCopy p;
  while ((1 << p.shift) < block_rows) ++p.shift;
  p.ld = (cap + block_rows - 1) / block_rows;
  const int64_t n_blocks = n_seq * p.ld + 2;
  p.storage_rows = n_blocks * block_rows;
  std::vector<int32_t> ids(n_blocks);
  for (int64_t i = 0; i < n_blocks; ++i) ids[i] = static_cast<int32_t>(i);
  std::mt19937 rng(seed);
  std::shuffle(ids.begin(), ids.end(), rng);
  p.tables.assign(ids.begin(), ids.begin() + n_seq * p.ld);
  p.bytes.assign(size_t(n_regions) * p.storage_rows * stride, 0xFF);
  for (int b = 0; b < n_seq; ++b) {
    for (int r = 0; r < n_regions; ++r) {
      for (int j = 0; j < cap; ++j) {
        const int64_t row = int64_t{p.tables[b * p.ld + (j >> p.shift)]} * block_rows + (j & (block_rows - 1));
        std::memcpy(p.bytes.data() + (r * p.storage_rows + row) * stride,
                    src.data() + b * seq_bytes + r * region_bytes + int64_t{j} * stride, stride);
      }
    }
  }
  return p;
}

}  // namespace lrkv::test

#endif  // LRKV_HAVE_CUDA
