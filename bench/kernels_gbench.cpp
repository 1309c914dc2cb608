// Google Benchmark suites for the CPU kernels at Llama-2-7B shapes: projections (decode m=1 and
// prefill m=128, f32/f16 weights) and decode attention over a dense cache. Bytes/FLOPs counters
// give achieved GB/s and GFLOP/s.
#include <benchmark/benchmark.h>

#include <vector>

#include "kernels/attention.h"
#include "kernels/elem.h"
#include "kernels/matmul.h"

namespace lrkv {
namespace {

void BM_Matmul(benchmark::State& state) {
  const int64_t m = state.range(0), n = 4096, k = 4096;
  const DType t = state.range(1) == 32 ? DType::kF32 : DType::kF16;
  std::vector<float> x(m * k, 0.01f), y(m * n);
  std::vector<float> wf(n * k, 0.02f);
  std::vector<uint8_t> w(dtype_bytes(t, n * k));
  store_row(w.data(), t, wf.data(), n * k);
  MatmulParams p{x.data(), k, w.data(), k, t, y.data(), n, m, n, k, false};
  for (auto _ : state) {
    cpu::matmul(p);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Matmul)->ArgsProduct({{1, 4, 128}, {32, 16}})->Unit(benchmark::kMillisecond);

void BM_DecodeAttention(benchmark::State& state) {
  const int n_kv = static_cast<int>(state.range(0)), heads = 32, hd = 128;
  const DType t = state.range(1) == 32 ? DType::kF32 : DType::kF16;
  std::vector<float> q(heads * hd, 0.1f), out(heads * hd);
  std::vector<float> kvf(static_cast<size_t>(n_kv) * heads * hd, 0.05f);
  std::vector<uint8_t> k(dtype_bytes(t, kvf.size())), v(k.size());
  store_row(k.data(), t, kvf.data(), kvf.size());
  store_row(v.data(), t, kvf.data(), kvf.size());
  int pos = n_kv - 1;
  AttentionParams p;
  p.q = q.data();
  p.ldq = heads * hd;
  p.q_pos = &pos;
  p.n_q = 1;
  p.k = k.data();
  p.v = v.data();
  p.ldkv = heads * hd;
  p.kv_type = t;
  p.n_kv = n_kv;
  p.n_head = p.n_kv_head = heads;
  p.head_dim = hd;
  p.scale = 0.088f;
  p.out = out.data();
  p.ldo = heads * hd;
  for (auto _ : state) {
    cpu::attention(p);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * k.size(), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DecodeAttention)->ArgsProduct({{512, 4096}, {32, 16}})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lrkv
