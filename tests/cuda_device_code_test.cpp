// Which device code runs (device_props.h device_code_arch): the sm_90 features (programmatic
// dependent launch, TMA copies) are switched on from it, so on a 9.x GPU it must report the sm_90
// code, or decode would silently lose PDL; elsewhere those features must stay off.
#ifdef LRKV_HAVE_CUDA

#include "cuda_test_util.h"
#include "kernels/cuda/device_props.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/pdl.cuh"

namespace lrkv {
namespace {

TEST(CudaDeviceCode, Sm90FeaturesFollowTheLoadedCode) {
  LRKV_REQUIRE_CUDA();
  const int cc = cuda::compute_capability(), code = cuda::device_code_arch();
  std::printf("[device code] compute capability %d, device code compute_%d\n", cc, code);
  ASSERT_GT(code, 0);
  EXPECT_LE(code, cc);  // the driver never loads code for a newer architecture than the GPU's
  if (cc / 10 == 9) {
    EXPECT_EQ(code, 90) << "the build's sm_90 code should run on compute capability " << cc;
  }
  EXPECT_EQ(cuda::sm90_code(), cc >= 90 && code >= 90);
  if (!cuda::sm90_code()) EXPECT_FALSE(cuda::pdl_enabled());
  if (cuda::sm90_code() && cuda::env_switch("LRKV_PDL", true)) EXPECT_TRUE(cuda::pdl_enabled());
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
