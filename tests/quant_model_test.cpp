// The KV-quantisation baselines on the real model ../shared/models/lrkv-mha6 (skipped when
// absent): perplexity over ~2k tokens of held-out TinyStories with q8_0 within 1% of f16,
// q4_0 within 3%, KIVI 2-bit within 5%, and the bytes per token each cache reports.
#include <cmath>

#include "eval/perplexity.h"
#include "io/model_io.h"
#include "io/text_source.h"
#include "model/cpu_engine.h"
#include "test_util.h"

namespace lrkv {
namespace {

TEST(QuantModel, BaselinesStayCloseToF16OnTheRealModel) {
  LRKV_REQUIRE_SHARED("models/lrkv-mha6/model.bin");
  LRKV_REQUIRE_SHARED("data/tinystories-valid-head.txt");
  auto m = load_model(test::shared_path("models/lrkv-mha6/model.bin"));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_TRUE(m->tokenizer);
  TextSourceOptions t;
  t.path = test::shared_path("data/tinystories-valid-head.txt");
  t.split_paragraphs = true;
  t.range = "90%:100%";
  auto docs = read_documents(t);
  ASSERT_TRUE(docs.ok());
  const std::vector<int> tokens = tokenize_documents(*m->tokenizer, *docs, true);
  CpuEngine engine(*m);
  PerplexityOptions o;
  o.ctx = 512;
  o.max_tokens = 2048;
  o.progress = false;
  auto run = [&](const KvCacheSpec& spec) {
    o.kv_type = spec;
    auto r = run_perplexity(engine, tokens, o);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : PerplexityResult{};
  };
  const PerplexityResult f16 = run(DType::kF16);
  ASSERT_GT(f16.n_scored, 2000);
  const int kv = m->config.kv_dim(), L = m->config.n_layer;
  EXPECT_EQ(f16.kv_bytes_per_token, int64_t{L} * 2 * kv * 2);
  struct Want {
    KvQuant q;
    double max_rel;
    int64_t bytes_per_layer;
  };
  // q8_0: 34 B / 32 values; q4_0: 18 B / 32; KIVI-2 (G 32): keys 2 bits + (scale, min) per
  // channel per 32 tokens, values 2 bits + (scale, min) per 32 values.
  const Want wants[] = {{KvQuant::kQ8_0, 0.01, 2 * kv / 32 * 34},
                        {KvQuant::kQ4_0, 0.03, 2 * kv / 32 * 18},
                        {KvQuant::kKivi, 0.05, 2 * (kv / 4 + kv / 32 * 4)}};
  for (const Want& w : wants) {
    KvCacheSpec spec;
    spec.quant = w.q;
    const PerplexityResult r = run(spec);
    EXPECT_EQ(r.n_scored, f16.n_scored);
    EXPECT_LT(std::fabs(r.ppl / f16.ppl - 1.0), w.max_rel)
        << spec.name() << ": ppl " << r.ppl << " vs f16 " << f16.ppl;
    EXPECT_EQ(r.kv_bytes_per_token, int64_t{L} * w.bytes_per_layer) << spec.name();
    std::printf("%-22s ppl %.4f (f16 %.4f), %lld bytes/token\n", spec.name().c_str(), r.ppl,
                f16.ppl, static_cast<long long>(r.kv_bytes_per_token));
  }
}

}  // namespace
}  // namespace lrkv
