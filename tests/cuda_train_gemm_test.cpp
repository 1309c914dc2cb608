// Training GEMMs on cuBLAS (backend/cuda/cuda_train_gemm.h): train_ops::gemm with the GPU backend
// equals the OpenBLAS product (fp32, no TF32) for every transpose pair, row strides, beta 0/1; a
// MatryoshkaKV distillation run gives the same per-step losses with the GEMMs on the GPU as on
// the CPU (to fp32 summation-order differences).
#ifdef LRKV_HAVE_CUDA

#include <cmath>

#include "backend/cuda/cuda_train_gemm.h"
#include "compress/tune/distill.h"
#include "compress/tune/mkv_task.h"
#include "cuda_test_util.h"
#include "model/train/fisher.h"
#include "model/train/train_ops.h"
#include "tune_test_util.h"

namespace lrkv {
namespace {

TEST(CudaTrainGemm, MatchesCpuForEveryTransposeAndStride) {
  LRKV_REQUIRE_CUDA();
  const int64_t m = 37, n = 53, k = 301;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (float beta : {0.0f, 1.0f}) {
        const int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 7;
        const auto a = test::cuda_randn(size_t((ta ? k : m) * lda), 1);
        const auto b = test::cuda_randn(size_t((tb ? n : k) * ldb), 2);
        const auto c0 = test::cuda_randn(size_t(m * ldc), 3);
        std::vector<float> cpu = c0, gpu = c0;
        cuda::disable_training_gemm();
        train_ops::gemm(ta, tb, m, n, k, 0.7f, a.data(), lda, b.data(), ldb, beta, cpu.data(), ldc);
        LRKV_ASSERT_OK(cuda::enable_training_gemm(0.0));
        const int64_t calls = cuda::training_gemm_calls();
        train_ops::gemm(ta, tb, m, n, k, 0.7f, a.data(), lda, b.data(), ldb, beta, gpu.data(), ldc);
        cuda::disable_training_gemm();
        EXPECT_EQ(cuda::training_gemm_calls(), calls + 1);
        double worst = 0.0;
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < ldc; ++j) {
            const size_t at = size_t(i * ldc + j);
            if (j >= n) {  // padding between rows is never written
              EXPECT_EQ(gpu[at], c0[at]);
              continue;
            }
            worst = std::max(worst, std::fabs(double(gpu[at]) - cpu[at]));
          }
        }
        // |Σ a b| over k = 301 terms of O(1): fp32 ordering differences ≲ k·2⁻²⁴·Σ|a b| ≈ 5e-4.
        EXPECT_LT(worst, 5e-4) << "ta " << ta << " tb " << tb << " beta " << beta;
      }
    }
  }
}

TEST(CudaTrainGemm, DistillationLossesMatchTheCpu) {
  LRKV_REQUIRE_CUDA();
  const test::TuneFixture f = test::make_tune_fixture(test::tiny_config(2, 4, 2, 16), 7, 2000);
  auto run = [&](bool gpu) {
    auto init = mkv_pca_projections(f.calib, f.model.config);
    EXPECT_TRUE(init.ok());
    auto task = MkvTask::create(f.model, *init, 1, {4, 8, 12, 16});
    EXPECT_TRUE(task.ok());
    auto teacher = TrainForward::create(f.model).value();
    DistillOptions o;
    o.steps = 5;
    o.progress = false;
    if (gpu) EXPECT_TRUE(cuda::enable_training_gemm(0.0).ok());
    auto report = run_distillation(teacher, **task, make_token_batches(f.tokens, 32, 4).value(), o);
    cuda::disable_training_gemm();
    EXPECT_TRUE(report.ok()) << report.status().to_string();
    return report.ok() ? report->losses : std::vector<LossValue>();
  };
  const int64_t before = cuda::training_gemm_calls();
  const auto cpu = run(false);
  const auto gpu = run(true);
  EXPECT_GT(cuda::training_gemm_calls(), before);
  ASSERT_EQ(cpu.size(), gpu.size());
  ASSERT_FALSE(cpu.empty());
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_NEAR(gpu[i].total, cpu[i].total, 1e-4 * std::fabs(cpu[i].total)) << "step " << i;
  }
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
