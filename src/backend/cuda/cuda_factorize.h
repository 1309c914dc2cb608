// GPU (cuSOLVER + cuBLAS, fp64) versions of the factorisations of compress/factorize.h, with the
// same inputs, outputs and contracts (LowRankFactor with the full spectrum, ranks above min(n, d)
// padded with zero directions, PCA's sign convention, Palu's regularisation when XᵀX is not
// positive definite: XᵀX + (|λ_min| + 1e-3) I). Row-major host Mats go up, results come down.
//   plain SVD     W = U S Vᵀ: QR of the tall side (geqrf/orgqr), gesvd of the square R, U = Q U_R
//   whitened SVD  potrf(XᵀX) = L Lᵀ, cached for the last XᵀX (all groups of a layer share it; an
//                 XᵀX at the same address with the same diagonal and strided sample of entries is
//                 taken as unchanged: don't modify one in place between calls),
//                 W L by trmm, its SVD as above, A = sqrt(S_r) V_rᵀ L⁻¹ by trsm (no inverse)
//   PCA           syevd of the covariance, A = P_rᵀ W by gemm
// Cost on an H100 for an 8B layer (d = 4096): one 4096² Cholesky per layer plus an SVD of a
// [s·128, 4096] matrix per group and side. One stream and handle pair per object; not thread-safe.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <memory>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "compress/compressor.h"
#include "compress/factorize.h"

namespace lrkv::cuda {

class GpuFactorizer {
 public:
  // Fails (kUnsupported) without a usable device.
  static Result<std::unique_ptr<GpuFactorizer>> create();
  ~GpuFactorizer();
  GpuFactorizer(const GpuFactorizer&) = delete;
  GpuFactorizer& operator=(const GpuFactorizer&) = delete;

  Result<LowRankFactor> plain_svd(const Mat& W, int rank);
  Result<LowRankFactor> whitened_svd(const Mat& W, const Mat& xtx, int rank);
  Result<LowRankFactor> pca(const Mat& cov, const std::vector<double>& mean, int rank, const Mat& W = Mat());

  // Diagonal added to the last XᵀX factorised (0 if it was positive definite).
  double last_shift() const { return chol_shift_; }

 private:
  GpuFactorizer() = default;
  // Device SVD of the row-major [m, n] matrix at `a` (overwritten): row-major U [m, k] into *U,
  // Vᵀ [k, n] into *Vt, s (k = min(m, n), descending) into *s.
  Status svd(double* a, int64_t m, int64_t n, DeviceBuffer* U, DeviceBuffer* Vt, std::vector<double>* s);
  // SVD of a column-major tall X [M, N] (M >= N, overwritten): Ux [M, N], VxT [N, N] column-major.
  Status tall_svd(double* x, int64_t M, int64_t N, double* ux, double* vxt, double* s);
  Status gesvd_square_or_tall(double* x, int64_t M, int64_t N, double* u, double* vt, double* s);
  // Device lower Cholesky factor of `xtx` (row-major L; column-major its transpose, upper).
  Status cholesky(const Mat& xtx);
  Status check_info(const char* what, int* info_out = nullptr);
  double* workspace(int64_t doubles);

  cudaStream_t stream_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  DeviceBuffer info_, work_;
  // Cholesky cache of the last XᵀX: its address and fingerprint (diagonal + strided sample), and
  // its factor on the device.
  const double* chol_src_ = nullptr;
  std::vector<double> chol_key_;
  int64_t chol_n_ = 0;
  DeviceBuffer chol_L_;
  double chol_shift_ = 0.0;
};

// A compressor Factorizer whose functions call one shared GpuFactorizer (name "cuda").
Result<Factorizer> gpu_factorizer();

const char* cusolver_status_name(cusolverStatus_t s);

}  // namespace lrkv::cuda
