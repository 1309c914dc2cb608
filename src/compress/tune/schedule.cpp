#include "compress/tune/schedule.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace lrkv {

namespace {

// splitmix64: decorrelates (seed, step, stream) into one generator seed.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t stream_seed(uint64_t seed, int64_t i, uint64_t stream) {
  return mix(mix(seed ^ (stream * 0x632be59bd9b4e019ull)) + static_cast<uint64_t>(i));
}

}  // namespace

std::vector<int> matryoshka_rank_set(int head_dim) {
  std::vector<int> out;
  if (head_dim < 8) {
    for (int r = 1; r <= head_dim; ++r) out.push_back(r);
    return out;
  }
  const int step = head_dim >= 128 ? 16 : head_dim / 8;
  for (int r = step; r < head_dim; r += step) out.push_back(r);
  out.push_back(head_dim);
  return out;
}

void sample_matryoshka_ranks(KvProjections& P, const std::vector<int>& set, uint64_t seed,
                             int64_t step) {
  std::mt19937_64 rng(stream_seed(seed, step, 1));
  std::uniform_int_distribution<size_t> pick(0, set.size() - 1);
  for (KvHeadProjection& h : P.heads) {
    h.rank_k = set[pick(rng)];
    h.rank_v = set[pick(rng)];
  }
}

int64_t batch_for_step(uint64_t seed, int64_t step, int64_t n_batches) {
  const int64_t epoch = step / n_batches;
  std::vector<int64_t> perm(n_batches);
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::mt19937_64 rng(stream_seed(seed, epoch, 2));
  std::shuffle(perm.begin(), perm.end(), rng);
  return perm[step % n_batches];
}

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup)
    return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const int64_t span = std::max<int64_t>(1, total - 1 - warmup);
  const double x =
      std::clamp(static_cast<double>(step - warmup) / static_cast<double>(span), 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * x));  // 1 -> 0
  return lr * (min_ratio + (1.0 - min_ratio) * cosine);
}

}  // namespace lrkv
