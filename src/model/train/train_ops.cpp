#include "model/train/train_ops.h"

#include <cblas.h>

#include <cmath>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"

namespace lrkv::train_ops {

namespace {
constexpr int64_t kRowGrain = 8;

int as_int(int64_t v) {
  LRKV_CHECK(v >= 0 && v <= INT32_MAX, "BLAS size {} out of int range", v);
  return static_cast<int>(v);
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS leaves C untouched only for beta == 1
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, as_int(m), as_int(n), as_int(k), alpha, a,
              as_int(lda), b, as_int(ldb), beta, c, as_int(ldc));
}

void linear(const float* x, int64_t ldx, int64_t T, const float* w, int64_t n, int64_t k, float* y,
            int64_t ldy, bool accumulate) {
  gemm(false, true, T, n, k, 1.0f, x, ldx, w, k, accumulate ? 1.0f : 0.0f, y, ldy);
}

void linear_dx(const float* dy, int64_t ldy, int64_t T, const float* w, int64_t n, int64_t k,
               float* dx, int64_t ldx, bool accumulate) {
  gemm(false, false, T, k, n, 1.0f, dy, ldy, w, k, accumulate ? 1.0f : 0.0f, dx, ldx);
}

void linear_dw(const float* dy, int64_t ldy, const float* x, int64_t ldx, int64_t T, int64_t n,
               int64_t k, float* dw, bool accumulate) {
  gemm(true, false, n, k, T, 1.0f, dy, ldy, x, ldx, accumulate ? 1.0f : 0.0f, dw, k);
}

void add_bias(float* y, int64_t ldy, int64_t T, const float* b, int64_t n) {
  if (b == nullptr) return;
  global_pool().parallel_for(T, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t j = 0; j < n; ++j) y[t * ldy + j] += b[j];
    }
  });
}

void col_sums(const float* y, int64_t ldy, int64_t T, int64_t n, float* out, bool accumulate) {
  std::vector<double> s(n, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < n; ++j) s[j] += y[t * ldy + j];
  }
  for (int64_t j = 0; j < n; ++j) out[j] = static_cast<float>(accumulate ? out[j] + s[j] : s[j]);
}

void rmsnorm_forward(const float* x, const float* g, int64_t T, int64_t d, float eps, float* y,
                     float* rstd) {
  global_pool().parallel_for(T, kRowGrain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = x + t * d;
      double ss = 0.0;
      for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const float r = static_cast<float>(1.0 / std::sqrt(ss / d + eps));
      rstd[t] = r;
      for (int64_t i = 0; i < d; ++i) y[t * d + i] = xr[i] * r * g[i];
    }
  });
}

void rmsnorm_backward(const float* x, const float* g, const float* rstd, const float* dy, int64_t T,
                      int64_t d, float* dx) {
  global_pool().parallel_for(T, kRowGrain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* xr = x + t * d;
      const float* dyr = dy + t * d;
      double dot = 0.0;
      for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(xr[i]) * g[i] * dyr[i];
      const float r = rstd[t];
      const float c = static_cast<float>(dot / d) * r * r * r;
      for (int64_t i = 0; i < d; ++i) dx[t * d + i] += r * g[i] * dyr[i] - xr[i] * c;
    }
  });
}

void swiglu_forward(const float* gate, const float* up, int64_t n, float* a) {
  global_pool().parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  });
}

void swiglu_backward(const float* gate, const float* up, const float* da, int64_t n, float* dgate,
                     float* dup) {
  global_pool().parallel_for(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-gate[i]));
      const float silu = gate[i] * s;
      dup[i] = da[i] * silu;
      dgate[i] = da[i] * up[i] * s * (1.0f + gate[i] * (1.0f - s));
    }
  });
}

}  // namespace lrkv::train_ops
