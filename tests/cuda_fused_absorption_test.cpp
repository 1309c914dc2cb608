// CudaEngineOptions::fused_absorption (RoPE, the key mean, both absorptions and the latent cache
// writes in one segment_project launch) against the same engine with the separate launches:
// absorbed latents per head and per group of 2 KV heads, key means and value biases, both RoPE
// layouts, bf16 and int4 latent caches, whole-context slots and paged caches. Prefill chunks of up
// to 64 rows take the fused path too, decode steps replay CUDA graphs. The fused launch rotates
// with the same device functions (rope_pair: no contractible expression) as rope_qk
// and projects the same values in the same order, so the logits are expected to be identical;
// the bound allows 1e-5 of a row's largest logit.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "backend/cuda/cuda_engine.h"
#include "cuda_test_util.h"
#include "latent_test_model.h"
#include "logits_compare.h"
#include "test_util.h"

namespace lrkv {
namespace {

using test::tokens;
using test::worst_row_error;

LlamaConfig config(RopeLayout layout) {
  LlamaConfig c = test::tiny_config(2, 8, 4, 64);
  c.d_model = 256;
  c.d_ff = 384;
  c.n_vocab = 512;
  c.max_seq = 256;
  c.rope_layout = layout;
  return c;
}

TEST(CudaEngine, FusedAbsorptionMatchesSeparateLaunches) {
  LRKV_REQUIRE_CUDA();
  unsetenv("LRKV_FUSED_ABSORB");  // an A/B run's setting would make both engines alike
  KvCacheSpec q4(DType::kBF16);
  q4.latent = LatentQuantParams{4, 32, false};
  for (const RopeLayout layout : {RopeLayout::kHalfSplit, RopeLayout::kInterleaved}) {
    for (const char* gran : {"head", "group:2"}) {
      test::LatentModelOptions o;
      o.method = "mkv-pca";
      o.granularity = gran;
      const Model m = test::make_latent_test_model(config(layout), o);
      cuda::CudaEngineOptions fused_opt, separate_opt;
      fused_opt.fused_absorption = fused_opt.fused_absorption_quantized = true;
      separate_opt.fused_absorption = separate_opt.fused_absorption_quantized = false;
      auto fused = cuda::CudaEngine::create(m, fused_opt);
      auto separate = cuda::CudaEngine::create(m, separate_opt);
      ASSERT_TRUE(fused.ok() && separate.ok()) << fused.status().to_string();
      KvCacheSpec paged_q4 = q4, paged_bf16(DType::kBF16);
      paged_q4.paging = paged_bf16.paging = KvPaging{48, 16};
      for (const KvCacheSpec& spec : {KvCacheSpec(DType::kBF16), q4, paged_bf16, paged_q4}) {
        const std::string name = std::string(gran) + (layout == RopeLayout::kHalfSplit ? " half-split" : " interleaved") +
                                 (spec.latent.bits ? " int4" : " bf16") + (spec.paging.n_blocks ? " paged" : "");
        const int cap = 200, V = m.config.n_vocab;
        auto fc = (*fused)->make_cache(2, cap, spec);
        auto sc = (*separate)->make_cache(2, cap, spec);
        ASSERT_TRUE(fc.ok() && sc.ok()) << name << ": " << fc.status().to_string();
        double worst = 0.0;
        auto step = [&](const std::vector<SeqSpan>& spans, LogitsMode mode) {
          std::vector<float> lf, ls;
          LRKV_ASSERT_OK((*fused)->forward(spans, **fc, mode, &lf));
          LRKV_ASSERT_OK((*separate)->forward(spans, **sc, mode, &ls));
          ASSERT_EQ(lf.size(), ls.size());
          worst = std::max(worst, worst_row_error(lf, ls, V));
        };
        // 57 rows: one fused prefill step; then 100 rows: a chunk past the fused path's 64.
        const auto a = tokens(37, 1, V), b = tokens(20, 2, V), d = tokens(100, 4, V);
        step({SeqSpan{0, a.data(), 37}, SeqSpan{1, b.data(), 20}}, LogitsMode::kAll);
        for (int i = 0; i < 30; ++i) {
          const auto n0 = tokens(1, 10 + i, V), n1 = tokens(1, 60 + i, V);
          step({SeqSpan{0, n0.data(), 1}, SeqSpan{1, n1.data(), 1}}, LogitsMode::kLast);
        }
        step({SeqSpan{1, d.data(), 100}}, LogitsMode::kLast);
        const auto e = tokens(5, 3, V);
        step({SeqSpan{0, e.data(), 5}}, LogitsMode::kAll);
        std::printf("[fused absorption %s] worst logits row error vs separate launches %.2e\n", name.c_str(), worst);
        EXPECT_LT(worst, 1e-5) << name;
      }
    }
  }
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
