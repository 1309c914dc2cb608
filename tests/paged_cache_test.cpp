// Paged KV caches (cache/block_pool.h, KvCacheSpec::paging): the block bookkeeping, and that the
// engine reading every cache kind through block tables computes exactly what it computes on the
// contiguous cache.
#include <algorithm>

#include "cache/block_pool.h"
#include "latent_test_model.h"
#include "model/cpu_engine.h"
#include "test_util.h"

namespace lrkv {
namespace {

TEST(BlockPool, ReserveReleaseAndExhaustion) {
  BlockPool pool(/*n_seq=*/2, /*n_blocks=*/5, /*block_rows=*/4);
  EXPECT_EQ(pool.free_blocks(), 5);
  EXPECT_TRUE(pool.reserve(0, 9));  // 3 blocks
  EXPECT_EQ(pool.table(0).size(), 3u);
  EXPECT_EQ(pool.blocks_needed(1, 12), 3);
  EXPECT_FALSE(pool.reserve(1, 12));  // 3 > 2 free: nothing changes
  EXPECT_TRUE(pool.table(1).empty());
  EXPECT_EQ(pool.free_blocks(), 2);
  EXPECT_TRUE(pool.reserve(1, 8));
  EXPECT_EQ(pool.free_blocks(), 0);
  pool.release(0, 4);  // keeps one block
  EXPECT_EQ(pool.table(0).size(), 1u);
  EXPECT_EQ(pool.free_blocks(), 2);
  // Every block is held by exactly one table.
  std::vector<int32_t> all = pool.table(0);
  all.insert(all.end(), pool.table(1).begin(), pool.table(1).end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());
}

TEST(BlockPool, SharesRegisteredPrefixesAndKeepsThemCachedUntilNeeded) {
  BlockPool pool(3, 6, 4);
  std::vector<int> a(14), b(14);
  for (int i = 0; i < 14; ++i) a[i] = b[i] = 100 + i;
  b[9] = 7;  // b shares a's first two blocks (positions 0..7), not the third
  ASSERT_TRUE(pool.reserve(0, 14));  // 4 blocks
  pool.register_prefix(0, a.data(), 14);  // 3 full blocks registered
  EXPECT_EQ(pool.cached_blocks(), 3);
  EXPECT_EQ(pool.share_prefix(1, b.data(), 14), 8);
  EXPECT_EQ(pool.table(1), std::vector<int32_t>(pool.table(0).begin(), pool.table(0).begin() + 2));
  // The whole prompt is never shared: its last token must be computed.
  EXPECT_EQ(pool.share_prefix(2, a.data(), 12), 8);
  pool.release(2, 0);
  EXPECT_EQ(pool.shared_tokens_total(), 16);
  // Sequence 0 leaves: its registered blocks stay cached (still free for reservations).
  pool.release(0, 0);
  pool.release(1, 0);
  EXPECT_EQ(pool.free_blocks(), 6);
  EXPECT_EQ(pool.cached_blocks(), 3);
  EXPECT_EQ(pool.share_prefix(1, a.data(), 14), 12);  // cached blocks come back
  pool.release(1, 0);
  // Taking every block evicts the cached chain; afterwards nothing matches.
  ASSERT_TRUE(pool.reserve(2, 24));
  EXPECT_EQ(pool.cached_blocks(), 0);
  pool.release(2, 0);
  EXPECT_EQ(pool.share_prefix(1, a.data(), 14), 0);
}

TEST(BlockPoolDeathTest, CuttingIntoASharedBlockAborts) {
  BlockPool pool(2, 4, 4);
  std::vector<int> a = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(pool.reserve(0, 6));
  pool.register_prefix(0, a.data(), 6);  // block 0 registered
  EXPECT_DEATH(pool.release(0, 2), "rewrite shared/cached block");
  pool.release(0, 4);  // a cut at a block boundary is fine
  EXPECT_EQ(pool.table(0).size(), 1u);
}

TEST(BlockPool, EvictionTakesTheChainsLeavesFirst) {
  // A sequence releases its blocks from the back, so a cached chain A -> A2 is evicted leaf first:
  // A stays shareable while A2 is reused, and A2's new content (after X) is what a prompt X...
  // maps, never the old A2 (its keys were computed after A).
  BlockPool pool(2, 3, 2);
  std::vector<int> a = {1, 2, 3, 4, 5}, x = {9, 9, 3, 4, 5};
  ASSERT_TRUE(pool.reserve(0, 5));
  pool.register_prefix(0, a.data(), 4);  // A = {1,2}, A2 = {3,4}
  pool.release(0, 0);
  ASSERT_TRUE(pool.reserve(1, 4));  // the free block, then the oldest cached one: A2
  EXPECT_EQ(pool.cached_blocks(), 1);
  pool.register_prefix(1, x.data(), 4);
  pool.release(1, 0);
  EXPECT_EQ(pool.share_prefix(0, a.data(), 5), 2);  // A only
  pool.release(0, 0);
  EXPECT_EQ(pool.share_prefix(1, x.data(), 5), 4);  // X and its own second block
}

struct Case {
  const char* name;
  bool latent;
  const char* method;
  KvCacheSpec spec;
};

Model make_model(const Case& c) {
  const LlamaConfig cfg = test::tiny_config(2, 4, 2, 32);
  if (!c.latent) {
    auto m = make_random_model(cfg, 11);
    LRKV_CHECK(m.ok(), "{}", m.status().to_string());
    return std::move(m).value();
  }
  test::LatentModelOptions o;
  o.method = c.method;
  o.budget = 0.5;
  return test::make_latent_test_model(cfg, o);
}

// Two sequences: prompts of 21 and 13 tokens (prefilled together), then 7 decode steps of both,
// every step's logits appended to *out.
Status run(CpuEngine& engine, KvCache& cache, std::vector<float>* out) {
  const int vocab = engine.config().n_vocab;
  std::vector<int> p0(21), p1(13);
  for (int i = 0; i < 21; ++i) p0[i] = (i * 7 + 3) % vocab;
  for (int i = 0; i < 13; ++i) p1[i] = (i * 5 + 1) % vocab;
  std::vector<float> logits;
  LRKV_RETURN_IF_ERROR(engine.forward({{0, p0.data(), 21}, {1, p1.data(), 13}}, cache,
                                      LogitsMode::kAll, &logits));
  out->insert(out->end(), logits.begin(), logits.end());
  for (int step = 0; step < 7; ++step) {
    int t0 = (step * 11 + 2) % vocab, t1 = (step * 13 + 5) % vocab;
    LRKV_RETURN_IF_ERROR(
        engine.forward({{1, &t1, 1}, {0, &t0, 1}}, cache, LogitsMode::kAll, &logits));
    out->insert(out->end(), logits.begin(), logits.end());
  }
  return Status::Ok();
}

TEST(PagedCacheEngine, EveryCacheKindMatchesTheContiguousCacheExactly) {
  KvCacheSpec int4;
  int4.latent.bits = 4;
  KvCacheSpec q8;
  q8.quant = KvQuant::kQ8_0;
  const Case cases[] = {
      {"dense f16", false, "", KvCacheSpec(DType::kF16)},
      {"dense f32", false, "", KvCacheSpec(DType::kF32)},
      {"dense q8_0", false, "", q8},
      {"palu (rebuild keys) f32", true, "palu", KvCacheSpec(DType::kF32)},
      {"palu (rebuild keys) f16", true, "palu", KvCacheSpec(DType::kF16)},
      {"mkv-pca (absorbed keys) f16", true, "mkv-pca", KvCacheSpec(DType::kF16)},
      {"palu int4 latents", true, "palu", int4},
      {"mkv-pca int4 latents", true, "mkv-pca", int4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Model m = make_model(c);
    CpuEngine engine(m);
    ASSERT_TRUE(engine.status().ok()) << engine.status().to_string();
    auto flat = engine.make_cache(2, 40, c.spec);
    ASSERT_TRUE(flat.ok()) << flat.status().to_string();
    KvCacheSpec ps = c.spec;
    ps.paging = {/*n_blocks=*/20, /*block_rows=*/4};
    auto paged = engine.make_cache(3, 40, ps);
    ASSERT_TRUE(paged.ok()) << paged.status().to_string();
    ASSERT_NE((*paged)->pages(), nullptr);
    // Scatter the tables: sequence 0 starts in block 1, block 0 (a third sequence's) comes back
    // free and is sequence 0's second block.
    ASSERT_TRUE((*paged)->reserve(2, 4).ok());
    ASSERT_TRUE((*paged)->reserve(0, 4).ok());
    (*paged)->truncate(2, 0);
    std::vector<float> a, b;
    ASSERT_TRUE(run(engine, **flat, &a).ok());
    ASSERT_TRUE(run(engine, **paged, &b).ok());
    // Tables interleave (decodes alternate) and are not in storage order.
    const auto& t0 = (*paged)->pages()->table(0);
    EXPECT_FALSE(std::is_sorted(t0.begin(), t0.end()));
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(a, b);  // same rows, same arithmetic: bit-identical
  }
}

TEST(PagedCacheEngine, ASharedPrefixGivesTheLogitsOfRecomputingIt) {
  const Model m = make_model({"", true, "mkv-pca", {}});
  CpuEngine engine(m);
  auto cache = engine.make_cache(2, 40, test::paged_spec(16, 4));
  ASSERT_TRUE(cache.ok());
  KvCache& c = **cache;
  std::vector<int> prompt(18);
  for (int i = 0; i < 18; ++i) prompt[i] = (i * 3 + 2) % m.config.n_vocab;
  std::vector<float> first, second;
  ASSERT_TRUE(engine.forward({{0, prompt.data(), 18}}, c, LogitsMode::kLast, &first).ok());
  c.pages()->register_prefix(0, prompt.data(), c.length(0));
  const int used = c.pages()->used_blocks();
  const int shared = c.adopt_prefix(1, prompt.data(), 18);
  EXPECT_EQ(shared, 16);
  EXPECT_EQ(c.length(1), 16);
  EXPECT_EQ(c.pages()->used_blocks(), used);  // no new block for the shared part
  ASSERT_TRUE(engine.forward({{1, prompt.data() + 16, 2}}, c, LogitsMode::kLast, &second).ok());
  // The shared rows are those the first sequence computed; the last two tokens' rows differ only
  // in how they were batched (2 rows, not 18): f32 rounding, far below the logits' scale (~1).
  const test::MaxDiff d = test::max_abs_diff(first, second);
  EXPECT_LT(d.value, 1e-4) << "at " << d.index;
}

TEST(PagedCacheEngine, AFullPoolIsAnErrorAndChangesNothing) {
  const Model m = make_model({"", false, "", {}});
  CpuEngine engine(m);
  auto cache = engine.make_cache(2, 40, test::paged_spec(3, 4));
  ASSERT_TRUE(cache.ok());
  std::vector<int> p(8, 1);
  ASSERT_TRUE(engine.forward({{0, p.data(), 8}}, **cache, LogitsMode::kNone, nullptr).ok());
  std::vector<float> logits;
  Status st = engine.forward({{0, p.data(), 1}, {1, p.data(), 8}}, **cache, LogitsMode::kLast, &logits);
  test::expect_error(st, ErrorCode::kInvalidArgument, {"paged KV cache full", "free"});
  EXPECT_EQ((*cache)->length(0), 8);
  EXPECT_EQ((*cache)->length(1), 0);
  EXPECT_EQ((*cache)->pages()->free_blocks(), 1);
  KvCacheSpec kivi;
  kivi.quant = KvQuant::kKivi;
  kivi.paging = {4, 4};
  test::expect_error(engine.make_cache(1, 40, kivi).status(), ErrorCode::kUnsupported,
                     {"kivi2", "paged"});
  test::expect_error(engine.make_cache(1, 40, test::paged_spec(4, 6)).status(), ErrorCode::kInvalidArgument,
                     {"--kv-block 6", "power of two"});
}

}  // namespace
}  // namespace lrkv
