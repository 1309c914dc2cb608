#include "backend/cuda/cuda_factorize.h"

#include <algorithm>
#include <cmath>

#include "backend/cuda/cublas_gemm.h"
#include "kernels/cuda/cuda_status.h"

// Layout: a row-major host matrix [r, c] is, in device memory, the column-major [c, r] matrix
// (its transpose) with leading dimension c; cuSOLVER/cuBLAS see column-major.
namespace lrkv::cuda {
namespace {

constexpr double kPaluEps = 1e-3;  // as cholesky_lower's default (linalg.h)

Status solver_ok(cusolverStatus_t s, const char* what) {
  if (s == CUSOLVER_STATUS_SUCCESS) return Status::Ok();
  return make_error(ErrorCode::kInternal, "{}: {}", what, cusolver_status_name(s));
}

Status check_rank(int rank, int64_t max_rank, const char* what) {
  if (rank < 1 || rank > max_rank) {
    return make_error(ErrorCode::kInvalidArgument, "{}: rank {} outside [1, {}]", what, rank, max_rank);
  }
  return Status::Ok();
}

Status check_finite(const std::vector<double>& v, const char* what) {
  for (double x : v) {
    if (!std::isfinite(x)) return make_error(ErrorCode::kInvalidArgument, "{}: input has non-finite values", what);
  }
  return Status::Ok();
}

Result<DeviceBuffer> alloc_doubles(int64_t n) {
  return DeviceBuffer::create(static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(double));
}

Status download(const DeviceBuffer& b, double* dst, int64_t n, int64_t offset = 0) {
  return b.download(dst, static_cast<size_t>(n) * sizeof(double), static_cast<size_t>(offset) * sizeof(double));
}

// The diagonal and every 61st entry: with the address, the Cholesky cache's key (a full compare
// of a 4096² XᵀX per group would cost as much host time as the GPU's factorisation).
std::vector<double> fingerprint(const Mat& m) {
  std::vector<double> f;
  f.reserve(m.rows + m.a.size() / 61 + 1);
  for (int64_t i = 0; i < m.rows; ++i) f.push_back(m(i, i));
  for (size_t i = 0; i < m.a.size(); i += 61) f.push_back(m.a[i]);
  return f;
}

}  // namespace

const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    default: return "CUSOLVER_STATUS_(other)";
  }
}

Result<std::unique_ptr<GpuFactorizer>> GpuFactorizer::create() {
  std::string why;
  if (!device_available(&why)) return make_error(ErrorCode::kUnsupported, "CUDA factorisation: {}", why);
  std::unique_ptr<GpuFactorizer> f(new GpuFactorizer());
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&f->stream_, cudaStreamNonBlocking), "factorize stream");
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnCreate(&f->solver_), "cusolverDnCreate"));
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnSetStream(f->solver_, f->stream_), "cusolverDnSetStream"));
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasCreate(&f->blas_), "cublasCreate"));
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasSetStream(f->blas_, f->stream_), "cublasSetStream"));
  // fp64 throughout: no reduced-precision emulation of DGEMM.
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasSetMathMode(f->blas_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
  LRKV_ASSIGN_OR_RETURN(f->info_, DeviceBuffer::create(sizeof(int)));
  return f;
}

GpuFactorizer::~GpuFactorizer() {
  if (solver_) cusolverDnDestroy(solver_);
  if (blas_) cublasDestroy(blas_);
  if (stream_) cudaStreamDestroy(stream_);
}

double* GpuFactorizer::workspace(int64_t doubles) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(doubles, 1)) * sizeof(double);
  if (work_.bytes() < bytes) {
    cudaStreamSynchronize(stream_);  // the old workspace may still be in use
    work_.reset();
    auto b = DeviceBuffer::create(bytes);
    if (!b.ok()) return nullptr;
    work_ = std::move(*b);
  }
  return work_.as<double>();
}

// Waits for the stream and reads the solver's info (< 0: bad argument, > 0: numerical failure).
Status GpuFactorizer::check_info(const char* what, int* info_out) {
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), what);
  int info = 0;
  LRKV_RETURN_IF_ERROR(info_.download(&info, sizeof(int)));
  if (info_out) {
    *info_out = info;
    if (info >= 0) return Status::Ok();
  }
  if (info != 0) return make_error(ErrorCode::kInternal, "{} failed (info {})", what, info);
  return Status::Ok();
}

Status GpuFactorizer::gesvd_square_or_tall(double* x, int64_t M, int64_t N, double* u, double* vt, double* s) {
  const int m = static_cast<int>(M), n = static_cast<int>(N);
  int lwork = 0;
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDgesvd_bufferSize(solver_, m, n, &lwork), "gesvd buffer size"));
  double* work = workspace(lwork);
  if (!work) return make_error(ErrorCode::kInternal, "gesvd: workspace allocation failed");
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDgesvd(solver_, 'S', 'S', m, n, x, m, s, u, m, vt, n, work, lwork,
                                                  nullptr, info_.as<int>()),
                                 "gesvd"));
  return check_info("SVD (gesvd)");
}

Status GpuFactorizer::tall_svd(double* x, int64_t M, int64_t N, double* ux, double* vxt, double* s) {
  if (M < 2 * N) return gesvd_square_or_tall(x, M, N, ux, vxt, s);
  // X = Q R (geqrf), R = U_R S V_Rᵀ (gesvd of the N x N triangle), Ux = Q U_R.
  const int m = static_cast<int>(M), n = static_cast<int>(N);
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer tau, alloc_doubles(N));
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer r, alloc_doubles(N * N));
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer ur, alloc_doubles(N * N));
  int lwork = 0;
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDgeqrf_bufferSize(solver_, m, n, x, m, &lwork), "geqrf buffer size"));
  double* work = workspace(lwork);
  if (!work) return make_error(ErrorCode::kInternal, "geqrf: workspace allocation failed");
  LRKV_RETURN_IF_ERROR(
      solver_ok(cusolverDnDgeqrf(solver_, m, n, x, m, tau.as<double>(), work, lwork, info_.as<int>()), "geqrf"));
  LRKV_RETURN_IF_ERROR(check_info("QR (geqrf)"));
  // R = triu(X[:N, :N]): copy the top block, then clear below the diagonal column by column.
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(r.data(), N * sizeof(double), x, M * sizeof(double), N * sizeof(double),
                                              N, cudaMemcpyDeviceToDevice, stream_),
                            "copy R");
  for (int64_t j = 0; j + 1 < N; ++j) {
    LRKV_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(r.as<double>() + j * N + j + 1, 0, (N - j - 1) * sizeof(double), stream_), "clear R");
  }
  LRKV_RETURN_IF_ERROR(
      solver_ok(cusolverDnDorgqr_bufferSize(solver_, m, n, n, x, m, tau.as<double>(), &lwork), "orgqr buffer size"));
  work = workspace(lwork);
  if (!work) return make_error(ErrorCode::kInternal, "orgqr: workspace allocation failed");
  LRKV_RETURN_IF_ERROR(solver_ok(
      cusolverDnDorgqr(solver_, m, n, n, x, m, tau.as<double>(), work, lwork, info_.as<int>()), "orgqr"));
  LRKV_RETURN_IF_ERROR(check_info("QR (orgqr)"));
  LRKV_RETURN_IF_ERROR(gesvd_square_or_tall(r.as<double>(), N, N, ur.as<double>(), vxt, s));
  const double one = 1.0, zero = 0.0;
  return cublas_ok(cublasDgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_N, m, n, n, &one, x, m, ur.as<double>(), n, &zero, ux, m),
                 "Q U_R");
}

Status GpuFactorizer::svd(double* a, int64_t m, int64_t n, DeviceBuffer* U, DeviceBuffer* Vt, std::vector<double>* s) {
  const int64_t k = std::min(m, n);
  LRKV_ASSIGN_OR_RETURN(*U, alloc_doubles(m * k));
  LRKV_ASSIGN_OR_RETURN(*Vt, alloc_doubles(k * n));
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer ds, alloc_doubles(k));
  if (n >= m) {
    // a is the column-major tall Aᵀ [n, m] = Ux S VxT, so A = Vx S Uxᵀ: the memory of VxT is the
    // row-major U of A and the memory of Ux its row-major Vᵀ.
    LRKV_RETURN_IF_ERROR(tall_svd(a, n, m, Vt->as<double>(), U->as<double>(), ds.as<double>()));
  } else {
    // Transpose to the column-major tall A [m, n], then transpose the factors back to row-major.
    const double one = 1.0, zero = 0.0;
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer x, alloc_doubles(m * n));
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer ux, alloc_doubles(m * n));
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer vxt, alloc_doubles(n * n));
    const int im = static_cast<int>(m), in = static_cast<int>(n);
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasDgeam(blas_, CUBLAS_OP_T, CUBLAS_OP_N, im, in, &one, a, in, &zero,
                                             x.as<double>(), im, x.as<double>(), im),
                                 "transpose A"));
    LRKV_RETURN_IF_ERROR(tall_svd(x.as<double>(), m, n, ux.as<double>(), vxt.as<double>(), ds.as<double>()));
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasDgeam(blas_, CUBLAS_OP_T, CUBLAS_OP_N, in, im, &one, ux.as<double>(), im,
                                             &zero, U->as<double>(), in, U->as<double>(), in),
                                 "transpose U"));
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasDgeam(blas_, CUBLAS_OP_T, CUBLAS_OP_N, in, in, &one, vxt.as<double>(), in,
                                             &zero, Vt->as<double>(), in, Vt->as<double>(), in),
                                 "transpose Vt"));
  }
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "svd");
  s->resize(k);
  return download(ds, s->data(), k);
}

Result<LowRankFactor> GpuFactorizer::plain_svd(const Mat& W, int rank) {
  LRKV_RETURN_IF_ERROR(check_rank(rank, W.rows, "plain SVD"));
  LRKV_RETURN_IF_ERROR(check_finite(W.a, "svd"));
  const int64_t n = W.rows, d = W.cols, k = std::min(n, d);
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer a, DeviceBuffer::from_host(W.a));
  DeviceBuffer U, Vt;
  LowRankFactor f;
  LRKV_RETURN_IF_ERROR(svd(a.as<double>(), n, d, &U, &Vt, &f.spectrum));
  // A = sqrt(S_r) V_rᵀ, B = U_r sqrt(S_r); ranks above k padded with zero directions.
  const int kept = static_cast<int>(std::min<int64_t>(rank, k));
  std::vector<double> u(n * k);
  LRKV_RETURN_IF_ERROR(download(U, u.data(), n * k));
  f.down = Mat(rank, d);
  f.up = Mat(n, rank);
  LRKV_RETURN_IF_ERROR(download(Vt, f.down.a.data(), kept * d));
  for (int i = 0; i < kept; ++i) {
    const double sq = std::sqrt(f.spectrum[i]);
    for (int64_t c = 0; c < d; ++c) f.down(i, c) *= sq;
    for (int64_t c = 0; c < n; ++c) f.up(c, i) = u[c * k + i] * sq;
  }
  return f;
}

Status GpuFactorizer::cholesky(const Mat& xtx) {
  const int64_t n = xtx.rows;
  const std::vector<double> sample = fingerprint(xtx);
  if (chol_n_ == n && chol_src_ == xtx.a.data() && chol_key_ == sample) return Status::Ok();
  chol_n_ = 0;
  LRKV_RETURN_IF_ERROR(check_finite(xtx.a, "cholesky"));
  LRKV_ASSIGN_OR_RETURN(chol_L_, DeviceBuffer::from_host(xtx.a));
  const int in = static_cast<int>(n);
  // Column-major upper U with A = Uᵀ U is the row-major lower L with A = L Lᵀ (A symmetric).
  int lwork = 0;
  LRKV_RETURN_IF_ERROR(solver_ok(
      cusolverDnDpotrf_bufferSize(solver_, CUBLAS_FILL_MODE_UPPER, in, chol_L_.as<double>(), in, &lwork),
      "potrf buffer size"));
  double* work = workspace(lwork);
  if (!work) return make_error(ErrorCode::kInternal, "potrf: workspace allocation failed");
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDpotrf(solver_, CUBLAS_FILL_MODE_UPPER, in, chol_L_.as<double>(), in, work,
                                                  lwork, info_.as<int>()),
                                 "potrf"));
  int info = 0;
  LRKV_RETURN_IF_ERROR(check_info("Cholesky (potrf)", &info));
  chol_shift_ = 0.0;
  if (info > 0) {
    // Palu's fallback, as cholesky_lower: A + (|λ_min| + eps) I.
    LRKV_RETURN_IF_ERROR(chol_L_.upload(xtx.a.data(), xtx.a.size() * sizeof(double)));
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer w, alloc_doubles(n));
    LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDsyevd_bufferSize(solver_, CUSOLVER_EIG_MODE_NOVECTOR,
                                                               CUBLAS_FILL_MODE_UPPER, in, chol_L_.as<double>(), in,
                                                               w.as<double>(), &lwork),
                                   "syevd buffer size"));
    work = workspace(lwork);
    if (!work) return make_error(ErrorCode::kInternal, "syevd: workspace allocation failed");
    LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDsyevd(solver_, CUSOLVER_EIG_MODE_NOVECTOR, CUBLAS_FILL_MODE_UPPER, in,
                                                    chol_L_.as<double>(), in, w.as<double>(), work, lwork,
                                                    info_.as<int>()),
                                   "syevd"));
    LRKV_RETURN_IF_ERROR(check_info("eigenvalues (syevd)"));
    double lambda_min = 0.0;  // ascending
    LRKV_RETURN_IF_ERROR(download(w, &lambda_min, 1));
    chol_shift_ = std::fabs(lambda_min) + kPaluEps;
    std::vector<double> shifted = xtx.a;
    for (int64_t i = 0; i < n; ++i) shifted[i * n + i] += chol_shift_;
    LRKV_RETURN_IF_ERROR(chol_L_.upload(shifted.data(), shifted.size() * sizeof(double)));
    LRKV_RETURN_IF_ERROR(
        solver_ok(cusolverDnDpotrf_bufferSize(solver_, CUBLAS_FILL_MODE_UPPER, in, chol_L_.as<double>(), in, &lwork),
                  "potrf buffer size"));
    work = workspace(lwork);
    if (!work) return make_error(ErrorCode::kInternal, "potrf: workspace allocation failed");
    LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDpotrf(solver_, CUBLAS_FILL_MODE_UPPER, in, chol_L_.as<double>(), in,
                                                    work, lwork, info_.as<int>()),
                                   "potrf"));
    LRKV_RETURN_IF_ERROR(check_info("Cholesky (potrf)", &info));
    if (info != 0) {
      return make_error(ErrorCode::kInternal, "Cholesky of a {}x{} matrix failed even after regularisation", n, n);
    }
  }
  chol_key_ = sample;
  chol_src_ = xtx.a.data();
  chol_n_ = n;
  return Status::Ok();
}

Result<LowRankFactor> GpuFactorizer::whitened_svd(const Mat& W, const Mat& xtx, int rank) {
  LRKV_RETURN_IF_ERROR(check_rank(rank, W.rows, "whitened SVD"));
  if (xtx.rows != W.cols || xtx.cols != W.cols) {
    return make_error(ErrorCode::kShapeMismatch, "whitened SVD: XᵀX is {}x{}, expected {}x{}", xtx.rows, xtx.cols,
                      W.cols, W.cols);
  }
  LRKV_RETURN_IF_ERROR(check_finite(W.a, "svd"));
  LRKV_RETURN_IF_ERROR(cholesky(xtx));
  const int64_t n = W.rows, d = W.cols, k = std::min(n, d);
  const int in = static_cast<int>(n), id = static_cast<int>(d);
  const double one = 1.0;
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer w, DeviceBuffer::from_host(W.a));
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer wl, alloc_doubles(n * d));
  // Column-major (W L)ᵀ [d, n] = U Wᵀ with U = Lᵀ the factor's upper triangle.
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasDtrmm(blas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                                           CUBLAS_DIAG_NON_UNIT, id, in, &one, chol_L_.as<double>(), id,
                                           w.as<double>(), id, wl.as<double>(), id),
                               "W L"));
  DeviceBuffer U, Vt;
  LowRankFactor f;
  LRKV_RETURN_IF_ERROR(svd(wl.as<double>(), n, d, &U, &Vt, &f.spectrum));
  const int kept = static_cast<int>(std::min<int64_t>(rank, k));
  std::vector<double> sq(kept);
  for (int i = 0; i < kept; ++i) sq[i] = std::sqrt(f.spectrum[i]);
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer dsq, DeviceBuffer::from_host(sq));
  // Rows of Vᵀ scaled by sqrt(s) (column-major: columns of [d, kept]), then A = sqrt(S_r) V_rᵀ L⁻¹
  // by a triangular solve: column-major U Aᵀ = (sqrt(S_r) V_rᵀ)ᵀ with U = Lᵀ.
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasDdgmm(blas_, CUBLAS_SIDE_RIGHT, id, kept, Vt.as<double>(), id, dsq.as<double>(),
                                           1, Vt.as<double>(), id),
                               "sqrt(S) V"));
  LRKV_RETURN_IF_ERROR(cublas_ok(cublasDtrsm(blas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N,
                                           CUBLAS_DIAG_NON_UNIT, id, kept, &one, chol_L_.as<double>(), id,
                                           Vt.as<double>(), id),
                               "L^-1"));
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "whitened SVD");
  f.down = Mat(rank, d);
  f.up = Mat(n, rank);
  LRKV_RETURN_IF_ERROR(download(Vt, f.down.a.data(), kept * d));
  std::vector<double> u(n * k);
  LRKV_RETURN_IF_ERROR(download(U, u.data(), n * k));
  for (int i = 0; i < kept; ++i) {
    for (int64_t c = 0; c < n; ++c) f.up(c, i) = u[c * k + i] * sq[i];
  }
  return f;
}

Result<LowRankFactor> GpuFactorizer::pca(const Mat& cov, const std::vector<double>& mean, int rank, const Mat& W) {
  const int64_t n = cov.rows;
  LRKV_RETURN_IF_ERROR(check_rank(rank, n, "PCA"));
  if (static_cast<int64_t>(mean.size()) != n || (W.rows != 0 && W.rows != n)) {
    return make_error(ErrorCode::kShapeMismatch, "PCA: covariance {}x{}, mean {}, weight rows {}", n, n, mean.size(),
                      W.rows);
  }
  LRKV_RETURN_IF_ERROR(check_finite(cov.a, "eigh"));
  const int in = static_cast<int>(n);
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer v, DeviceBuffer::from_host(cov.a));
  LRKV_ASSIGN_OR_RETURN(DeviceBuffer w, alloc_doubles(n));
  int lwork = 0;
  // The row-major upper triangle (LAPACKE 'U') is the column-major lower one.
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDsyevd_bufferSize(solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER,
                                                             in, v.as<double>(), in, w.as<double>(), &lwork),
                                 "syevd buffer size"));
  double* work = workspace(lwork);
  if (!work) return make_error(ErrorCode::kInternal, "syevd: workspace allocation failed");
  LRKV_RETURN_IF_ERROR(solver_ok(cusolverDnDsyevd(solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, in,
                                                  v.as<double>(), in, w.as<double>(), work, lwork, info_.as<int>()),
                                 "syevd"));
  LRKV_RETURN_IF_ERROR(check_info("eigendecomposition (syevd)"));
  std::vector<double> vals(n), vecs(n * n);
  LRKV_RETURN_IF_ERROR(download(w, vals.data(), n));
  LRKV_RETURN_IF_ERROR(download(v, vecs.data(), n * n));
  LowRankFactor f;
  f.spectrum.assign(vals.rbegin(), vals.rend());  // descending
  f.up = Mat(n, rank);                            // P_r: column j = eigenvector of the j-th largest
  for (int j = 0; j < rank; ++j) {
    const double* col = vecs.data() + (n - 1 - j) * n;
    int64_t arg = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (std::fabs(col[i]) > std::fabs(col[arg])) arg = i;
    }
    const double sign = col[arg] < 0 ? -1.0 : 1.0;  // largest-magnitude entry positive
    for (int64_t i = 0; i < n; ++i) f.up(i, j) = sign * col[i];
  }
  if (W.rows != 0) {
    // Column-major Aᵀ [d, r] = Wᵀ P_r: W's memory is Wᵀ [d, n], P_r's is P_rᵀ [r, n].
    const int64_t d = W.cols;
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer dw, DeviceBuffer::from_host(W.a));
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer dp, DeviceBuffer::from_host(f.up.a));
    LRKV_ASSIGN_OR_RETURN(DeviceBuffer da, alloc_doubles(rank * d));
    const double one = 1.0, zero = 0.0;
    LRKV_RETURN_IF_ERROR(cublas_ok(cublasDgemm(blas_, CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(d), rank, in, &one,
                                             dw.as<double>(), static_cast<int>(d), dp.as<double>(), rank, &zero,
                                             da.as<double>(), static_cast<int>(d)),
                                 "P_r^T W"));
    LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "PCA");
    f.down = Mat(rank, d);
    LRKV_RETURN_IF_ERROR(download(da, f.down.a.data(), rank * d));
  } else {
    f.down = f.up.transposed();
  }
  f.up_bias = mean;
  f.down_bias.assign(rank, 0.0);
  for (int j = 0; j < rank; ++j) {
    for (int64_t i = 0; i < n; ++i) f.down_bias[j] -= f.up(i, j) * mean[i];
  }
  return f;
}

Result<Factorizer> gpu_factorizer() {
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<GpuFactorizer> g, GpuFactorizer::create());
  std::shared_ptr<GpuFactorizer> gpu(std::move(g));
  Factorizer f;
  f.plain_svd = [gpu](const Mat& W, int rank) { return gpu->plain_svd(W, rank); };
  f.whitened_svd = [gpu](const Mat& W, const Mat& xtx, int rank) { return gpu->whitened_svd(W, xtx, rank); };
  f.pca = [gpu](const Mat& cov, const std::vector<double>& mean, int rank, const Mat& W) {
    return gpu->pca(cov, mean, rank, W);
  };
  f.name = "cuda";
  return f;
}

}  // namespace lrkv::cuda
