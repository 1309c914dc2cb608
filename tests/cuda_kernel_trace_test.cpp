// The CUPTI kernel tracer (backend/cuda/cupti_tracer.h) on a GPU: kernels launched directly and
// from a CUDA graph instantiated after start() come back with their names, grids and device
// timestamps inside the marks taken around them. Skips without a device or without libcupti.
#ifdef LRKV_HAVE_CUDA

#include <cuda_runtime.h>

#include "backend/cuda/cupti_tracer.h"
#include "backend/cuda/device_buffer.h"
#include "cuda_test_util.h"
#include "eval/report/kernel_profile.h"
#include "kernels/cuda/fill.h"

namespace lrkv {
namespace {

int count_fills(const std::vector<KernelRecord>& r, uint64_t t0, uint64_t t1) {
  int n = 0;
  for (const KernelRecord& k : r) {
    if (k.name.find("fill") == std::string::npos) continue;
    EXPECT_LE(t0, k.start_ns) << k.name;
    EXPECT_LE(k.start_ns, k.end_ns) << k.name;
    EXPECT_LE(k.end_ns, t1) << k.name;
    EXPECT_GE(k.grid[0], 1) << k.name;
    EXPECT_GE(k.block[0], 32) << k.name;
    ++n;
  }
  return n;
}

TEST(CudaKernelTrace, TracesDirectAndGraphLaunches) {
  LRKV_REQUIRE_CUDA();
  auto tracer = cuda::make_cupti_tracer();
  if (!tracer.ok()) GTEST_SKIP() << tracer.status().to_string();
  EXPECT_FALSE(cuda::make_cupti_tracer().ok());  // one live tracer per process
  auto buf = cuda::DeviceBuffer::create(size_t{4} << 20);
  ASSERT_TRUE(buf.ok());
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  KernelTracer& t = **tracer;
  ASSERT_TRUE(t.start().ok());
  const uint64_t t0 = t.now_ns();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(cuda::fill_uniform(buf->data(), cuda::FillType::kF32, 1 << 20, i, 1.0f, stream), cudaSuccess);
  }
  // A graph captured and instantiated while tracing, replayed twice: 2 fills per replay.
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ASSERT_EQ(cuda::fill_uniform(buf->data(), cuda::FillType::kF16, 1 << 20, 7, 1.0f, stream), cudaSuccess);
  ASSERT_EQ(cuda::fill_uniform(buf->data(), cuda::FillType::kBF16, 1 << 20, 8, 1.0f, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  const uint64_t t1 = t.now_ns();
  auto records = t.stop();
  ASSERT_TRUE(records.ok()) << records.status().to_string();
  EXPECT_EQ(count_fills(*records, t0, t1), 3 + 2 * 2);
  auto p = summarize_kernels(*records, 1, t0, t1, t.source());
  ASSERT_TRUE(p.ok());
  EXPECT_GT(p->busy_us, 0.0);
  EXPECT_LE(p->busy_us, p->window_us);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
