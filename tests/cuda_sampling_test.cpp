// GPU token selection (kernels/cuda/sampling.h) against the host: argmax = std::max_element
// (first index of the maximum), top-k = a full sort by (value desc, index asc), exactly, on rows
// with ties, negative values, -inf and vocabulary sizes up to 128256; both report each row's first
// non-finite column (host scan); CudaEngine::forward_sample draws the same tokens as the CPU
// Sampler on the downloaded logits of the same engine.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <numeric>

#include "backend/cuda/cuda_engine.h"
#include "cuda_test_util.h"
#include "test_util.h"
#include "kernels/cuda/sampling.h"
#include "model/sampler.h"
#include "model/synth.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;

std::vector<float> test_rows(int rows, int n, uint32_t seed) {
  auto x = test::randn(size_t(rows) * n, seed, 3.0f);
  if (rows > 1) {  // row 1: few distinct values (ties everywhere), a -inf
    for (int i = 0; i < n; ++i) x[size_t(n) + i] = static_cast<float>((i * 7) % 5) - 2.0f;
    x[size_t(n)] = -INFINITY;
  }
  if (rows > 2) {  // row 2: the maximum twice, far apart
    x[size_t(2) * n + n / 3] = 100.0f;
    x[size_t(2) * n + n - 1] = 100.0f;
  }
  return x;
}

TEST(CudaSampling, ArgmaxAndTopKMatchHostExactly) {
  LRKV_REQUIRE_CUDA();
  const int rows = 4;
  for (int n : {1, 7, 1000, 32000, 128256}) {
    const auto x = test_rows(rows, n, 11 + n);
    auto dx = DeviceBuffer::from_host(x);
    ASSERT_TRUE(dx.ok());
    const cuda::SampleRows p{dx->as<float>(), n, rows, n};
    auto dids = DeviceBuffer::from_host(std::vector<int>(size_t(rows) * cuda::kTopKMax, -1));
    auto dvals = DeviceBuffer::from_host(std::vector<float>(size_t(rows) * cuda::kTopKMax, NAN));
    ASSERT_TRUE(dids.ok() && dvals.ok());
    LRKV_ASSERT_OK(cuda::argmax_rows(p, dids->as<int>(), nullptr, nullptr));
    std::vector<int> ids(size_t(rows) * cuda::kTopKMax);
    LRKV_ASSERT_OK(dids->download(ids.data(), rows * sizeof(int)));
    for (int r = 0; r < rows; ++r) {
      const float* row = x.data() + size_t(r) * n;
      EXPECT_EQ(ids[r], std::max_element(row, row + n) - row) << "n " << n << " row " << r;
    }
    for (int k : {1, 40, 1000, 1024}) {
      if (k > n) continue;
      LRKV_ASSERT_OK(cuda::top_k_rows(p, k, dvals->as<float>(), dids->as<int>(), nullptr, nullptr));
      std::vector<float> vals(size_t(rows) * k);
      LRKV_ASSERT_OK(dids->download(ids.data(), size_t(rows) * k * sizeof(int)));
      LRKV_ASSERT_OK(dvals->download(vals.data(), vals.size() * sizeof(float)));
      for (int r = 0; r < rows; ++r) {
        const float* row = x.data() + size_t(r) * n;
        std::vector<int> order(n);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return row[a] > row[b]; });
        for (int i = 0; i < k; ++i) {
          ASSERT_EQ(ids[size_t(r) * k + i], order[i]) << "n " << n << " k " << k << " row " << r << " rank " << i;
          ASSERT_EQ(vals[size_t(r) * k + i], row[order[i]]);
        }
      }
    }
  }
}

TEST(CudaSampling, BadParametersAreErrors) {
  LRKV_REQUIRE_CUDA();
  auto d = DeviceBuffer::from_host(std::vector<float>(64, 0.0f));
  ASSERT_TRUE(d.ok());
  const cuda::SampleRows p{d->as<float>(), 16, 2, 16};
  int* ids = reinterpret_cast<int*>(d->as<float>());
  EXPECT_FALSE(cuda::top_k_rows(p, 17, d->as<float>(), ids, nullptr, nullptr).ok());
  EXPECT_FALSE(cuda::top_k_rows(p, 0, d->as<float>(), ids, nullptr, nullptr).ok());
  EXPECT_FALSE(cuda::argmax_rows(cuda::SampleRows{nullptr, 16, 2, 16}, nullptr, nullptr, nullptr).ok());
}

// The first non-finite column of each row (nan, inf or -inf; -1 when finite) as a host scan finds
// it, from both kernels, whatever the row's maximum.
TEST(CudaSampling, FirstNonFiniteColumnPerRow) {
  LRKV_REQUIRE_CUDA();
  const int rows = 5;
  for (int n : {7, 1000, 128256}) {
    auto x = test::randn(size_t(rows) * n, 3 + n, 2.0f);
    auto at = [&](int r, int i) -> float& { return x[size_t(r) * n + i]; };
    at(1, n - 1) = NAN;  // row 0 stays finite
    at(2, n / 2) = INFINITY;
    at(2, n - 2) = NAN;
    at(3, 3) = -INFINITY;
    at(3, 5) = INFINITY;
    for (int i = 0; i < n; ++i) at(4, i) = NAN;
    std::vector<int> want(rows, -1);
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < n && want[r] < 0; ++i) want[r] = std::isfinite(at(r, i)) ? -1 : i;
    }
    ASSERT_EQ(want[0], -1);
    auto dx = DeviceBuffer::from_host(x);
    auto dids = DeviceBuffer::from_host(std::vector<int>(size_t(rows) * cuda::kTopKMax, 0));
    auto dvals = DeviceBuffer::from_host(std::vector<float>(size_t(rows) * cuda::kTopKMax, 0.0f));
    ASSERT_TRUE(dx.ok() && dids.ok() && dvals.ok());
    const cuda::SampleRows p{dx->as<float>(), n, rows, n};
    for (int k : {0, 1, 5}) {  // 0: argmax
      auto dbad = DeviceBuffer::from_host(std::vector<int>(rows, -7));
      ASSERT_TRUE(dbad.ok());
      if (k == 0) {
        LRKV_ASSERT_OK(cuda::argmax_rows(p, dids->as<int>(), dbad->as<int>(), nullptr));
      } else {
        LRKV_ASSERT_OK(cuda::top_k_rows(p, k, dvals->as<float>(), dids->as<int>(), dbad->as<int>(), nullptr));
      }
      std::vector<int> bad(rows);
      LRKV_ASSERT_OK(dbad->download(bad.data(), rows * sizeof(int)));
      for (int r = 0; r < rows; ++r) EXPECT_EQ(bad[r], want[r]) << "n " << n << " k " << k << " row " << r;
    }
  }
}

// Two engines on the same model and prompts: one downloads logits and samples on the host, the
// other selects on the GPU; the same seeds must give the same tokens at every step. Decode steps
// of both replay CUDA graphs (same kernels, same attention plan: the same logits bit for bit);
// rows selected on the device (greedy, top-k up to 1024) come back in one block per step, rows of
// a whole-row sampler (top-k 0 over 3000 tokens) as downloaded logits; the long cases cross
// attention plan buckets (new graphs).
TEST(CudaSampling, ForwardSampleEqualsHostSampler) {
  LRKV_REQUIRE_CUDA();
  LlamaConfig c = test::tiny_config(2, 8, 4, 64);
  c.d_model = 256;
  c.d_ff = 384;
  c.n_vocab = 3000;
  c.max_seq = 640;
  auto m = make_random_model(c, 5, DType::kBF16);
  ASSERT_TRUE(m.ok());
  struct Case {
    std::vector<SamplerOptions> opts;
    int steps;
    const char* name;
  };
  // greedy; temperature + top-k 40 + top-p; top-k 0 (host fallback) or top-k 1024 (kTopKMax)
  const std::vector<Case> cases = {
      {{{0.0f, 40, 0.95f, 1}, {0.9f, 40, 0.9f, 2}, {1.2f, 0, 1.0f, 3}}, 6, "with a whole-row sampler"},
      {{{0.0f, 40, 0.95f, 1}, {0.9f, 40, 0.9f, 2}, {1.2f, 1024, 1.0f, 3}}, 300, "all on the device"},
      {{{0.7f, 5, 1.0f, 4}}, 300, "one sequence, top-k 5"}};
  for (const Case& cs : cases) {
    const int n = static_cast<int>(cs.opts.size());
    auto a = cuda::CudaEngine::create(*m, {});
    auto b = cuda::CudaEngine::create(*m, {});
    ASSERT_TRUE(a.ok() && b.ok());
    auto ca = (*a)->make_cache(n, 640, DType::kBF16);
    auto cb = (*b)->make_cache(n, 640, DType::kBF16);
    ASSERT_TRUE(ca.ok() && cb.ok());
    std::vector<Sampler> host, gpu;
    for (const auto& o : cs.opts) {
      host.emplace_back(o);
      gpu.emplace_back(o);
    }
    std::vector<std::vector<int>> seqs = {{1, 5, 9}, {1, 77}, {1, 300, 301, 302}};
    seqs.resize(n);
    for (int step = 0; step < cs.steps; ++step) {
      std::vector<SeqSpan> spans;
      for (int s = 0; s < n; ++s) {
        const int from = step == 0 ? 0 : static_cast<int>(seqs[s].size()) - 1;
        spans.push_back(SeqSpan{s, seqs[s].data() + from, static_cast<int>(seqs[s].size()) - from});
      }
      std::vector<float> logits;
      LRKV_ASSERT_OK((*a)->forward(spans, **ca, LogitsMode::kLast, &logits));
      std::vector<int> next;
      LRKV_ASSERT_OK((*b)->forward_sample(spans, **cb, gpu, &next));
      ASSERT_EQ(next.size(), size_t(n));
      for (int s = 0; s < n; ++s) {
        const int want = host[s].sample(logits.data() + size_t(s) * c.n_vocab, c.n_vocab);
        ASSERT_EQ(next[s], want) << cs.name << ": step " << step << " sequence " << s;
        seqs[s].push_back(want);
      }
    }
  }
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
