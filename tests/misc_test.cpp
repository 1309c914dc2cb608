// Thread pool, sampler and progress plumbing.
#include <atomic>
#include <cmath>
#include <map>

#include "core/thread_pool.h"
#include "model/sampler.h"
#include "test_util.h"

namespace lrkv {
namespace {

TEST(ThreadPoolTest, CoversRangeExactlyOnceAndNests) {
  ThreadPool pool(4);
  for (int64_t n : {0, 1, 3, 17, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, 2, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) hits[i]++;
      pool.parallel_for(3, 1, [](int64_t, int64_t) {});  // nested: runs inline, no deadlock
    });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << n << " " << i;
  }
}

TEST(SamplerTest, GreedyAndTopKOne) {
  const std::vector<float> logits = {0.1f, 3.0f, -2.0f, 2.9f};
  Sampler greedy({0.0f, 40, 0.95f, 1});
  EXPECT_EQ(greedy.sample(logits.data(), 4), 1);
  Sampler k1({1.0f, 1, 1.0f, 1});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(logits.data(), 4), 1);
}

TEST(SamplerTest, FrequenciesFollowSoftmax) {
  const std::vector<float> logits = {0.0f, std::log(2.0f), std::log(3.0f), -30.0f};
  Sampler s({1.0f, 0, 1.0f, 123});
  std::map<int, int> counts;
  const int n = 60000;
  for (int i = 0; i < n; ++i) counts[s.sample(logits.data(), 4)]++;
  for (int k = 0; k < 3; ++k) {
    const double p = (k + 1) / 6.0;
    EXPECT_NEAR(counts[k] / static_cast<double>(n), p, 5 * std::sqrt(p * (1 - p) / n)) << k;
  }
  EXPECT_EQ(counts[3], 0);
}

TEST(SamplerTest, TopPDropsTheTail) {
  const std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
  Sampler s({1.0f, 0, 0.85f, 7});
  for (int i = 0; i < 2000; ++i) EXPECT_NE(s.sample(logits.data(), 3), 2);
}

}  // namespace
}  // namespace lrkv
