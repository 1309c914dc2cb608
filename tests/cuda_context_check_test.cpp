// Run as one process (lrkv_cuda_tests without ctest), a test that leaves the CUDA context broken
// (an illegal address is sticky) fails every CUDA test after it. This listener prints, once, the
// test after which the context stopped working, so the first cause is named
// (LRKV_REQUIRE_CUDA then fails the later tests with that error instead of an unrelated one).
// Under ctest every test runs in its own process and the line never shows.
#ifdef LRKV_HAVE_CUDA

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cuda_test_util.h"
#include "kernels/cuda/fill.h"

namespace lrkv {
namespace {

class ContextWatch : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (reported_ || !cuda::device_available(nullptr)) return;
    const std::string e = test::cuda_context_error();
    if (e.empty()) return;
    reported_ = true;
    std::printf("[cuda context] broken after %s.%s: %s; the CUDA tests after it fail for this reason\n",
                info.test_suite_name(), info.name(), e.c_str());
    std::fflush(stdout);
  }
  bool reported_ = false;
};

const bool kRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new ContextWatch);  // gtest owns it
  return true;
}();

// The check: "" on a working context; the sticky error once a kernel wrote to an illegal address.
// The fault runs in a child process (a death test re-executing this binary), since it breaks the
// context for good.
TEST(CudaContext, ContextCheckSeesAnIllegalAddress) {
  LRKV_REQUIRE_CUDA();
  EXPECT_TRUE(kRegistered);
  EXPECT_EQ(test::cuda_context_error(), "");
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        void* bad = reinterpret_cast<void*>(uintptr_t{256});  // the null page: never mapped
        (void)cuda::fill_uniform(bad, cuda::FillType::kF32, 1 << 20, 1, 1.0f, nullptr);
        const std::string e = test::cuda_context_error();
        std::fprintf(stderr, "context check: %s\n", e.c_str());
        std::exit(e.find("cudaErrorIllegalAddress") != std::string::npos ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "context check: cudaErrorIllegalAddress");
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
