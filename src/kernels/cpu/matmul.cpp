#include "kernels/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/simd.h"
#include "kernels/elem.h"

namespace lrkv::cpu {

namespace {

// Few activation rows (decode): each W row is read once from memory and dotted with all m rows.
void matmul_half_rows(const MatmulParams& p) {
  const int64_t row_bytes = dtype_bytes(p.w_type, p.ldw);
  global_pool().parallel_for(p.n, 16, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const void* wj = static_cast<const uint8_t*>(p.w) + j * row_bytes;
      for (int64_t i = 0; i < p.m; ++i) {
        const float d = dot_any(p.x + i * p.ldx, wj, p.w_type, p.k);
        float& y = p.y[i * p.ldy + j];
        y = p.accumulate ? y + d : d;
      }
    }
  });
}

// Many rows (prefill): convert tiles of W rows to f32 and use sgemm.
void matmul_half_tiled(const MatmulParams& p) {
  constexpr int64_t kTileBytes = 8 << 20;
  const int64_t tile_rows = std::max<int64_t>(16, kTileBytes / (4 * p.k));
  // Scratch of the calling thread; workers write into it through this pointer (a thread_local
  // named inside the lambda would resolve to each worker's own, empty, instance).
  thread_local std::vector<float> scratch;
  scratch.resize(static_cast<size_t>(std::min(tile_rows, p.n) * p.k));
  float* tile = scratch.data();
  const int64_t row_bytes = dtype_bytes(p.w_type, p.ldw);
  for (int64_t j0 = 0; j0 < p.n; j0 += tile_rows) {
    const int64_t nr = std::min(tile_rows, p.n - j0);
    global_pool().parallel_for(nr, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        load_row(static_cast<const uint8_t*>(p.w) + (j0 + r) * row_bytes, p.w_type,
                 tile + r * p.k, p.k);
      }
    });
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(p.m), static_cast<int>(nr),
                static_cast<int>(p.k), 1.0f, p.x, static_cast<int>(p.ldx), tile,
                static_cast<int>(p.k), p.accumulate ? 1.0f : 0.0f, p.y + j0, static_cast<int>(p.ldy));
  }
}

}  // namespace

void matmul(const MatmulParams& p) {
  if (p.m == 0 || p.n == 0) return;
  if (p.w_type == DType::kF32) {
    const auto* w = static_cast<const float*>(p.w);
    const float beta = p.accumulate ? 1.0f : 0.0f;
    if (p.m == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(p.n), static_cast<int>(p.k), 1.0f, w,
                  static_cast<int>(p.ldw), p.x, 1, beta, p.y, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(p.m),
                  static_cast<int>(p.n), static_cast<int>(p.k), 1.0f, p.x, static_cast<int>(p.ldx), w,
                  static_cast<int>(p.ldw), beta, p.y, static_cast<int>(p.ldy));
    }
    return;
  }
  LRKV_CHECK(p.w_type == DType::kF16 || p.w_type == DType::kBF16, "matmul weight dtype {}",
             dtype_name(p.w_type));
  if (p.m <= 8) {
    matmul_half_rows(p);
  } else {
    matmul_half_tiled(p);
  }
}

}  // namespace lrkv::cpu
