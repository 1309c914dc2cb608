// Attention with fused dequantisation (kernels/quant_attention.h, kernels/kivi_attention.h): the
// CPU kernels equal the fp64 references on the same quantized data over awkward shapes (dense
// q8_0/q4_0 rows, latent segments of odd ranks, mixed plain keys + quantized values); the fused
// path equals dense attention over the dequantised cache; a KIVI cache gives the same attention
// output whether the tokens arrive in one prefill or in chunks, and byte counts follow its formula.
#include "kernels/quant_attention.h"

#include <cmath>
#include <random>
#include <vector>

#include "cache/kivi_kv_cache.h"
#include "kernels/attention.h"
#include "kernels/bitpack.h"
#include "kernels/elem.h"
#include "kernels/kivi_attention.h"
#include "test_util.h"

namespace lrkv {
namespace {

constexpr double kEps = 5.96e-8;

using test::randn;

// n_kv encoded rows of random values.
std::vector<uint8_t> encoded_rows(const RowCodec& c, int n_kv, uint32_t seed) {
  const auto x = randn(static_cast<size_t>(n_kv) * c.width, seed, 1.5f);
  std::vector<uint8_t> rows(n_kv * c.row_bytes);
  for (int j = 0; j < n_kv; ++j)
    encode_row(c, x.data() + j * c.width, rows.data() + j * c.row_bytes);
  return rows;
}

struct QaCase {
  const char* name;
  int n_head, n_q, start;
  QuantFormat kf, vf;
  std::vector<int> k_segs, v_segs;  // codec segments
  std::vector<int> head_seg;        // [n_head] segment read by each head (same index for K and V)
  bool plain_keys;                  // keys as plain f16 rows (rebuild mode), head slices = k_segs
};

class QuantAttention : public ::testing::TestWithParam<QaCase> {};

TEST_P(QuantAttention, CpuMatchesReference) {
  const QaCase c = GetParam();
  auto kc = RowCodec::create(c.kf, c.k_segs);
  auto vc = RowCodec::create(c.vf, c.v_segs);
  ASSERT_TRUE(kc.ok() && vc.ok());
  const int n_kv = c.start + c.n_q;
  // Queries: per head a slice as long as its key slice.
  std::vector<int> qk_off(c.n_head), z_off(c.n_head), k_off(c.n_head), k_len(c.n_head);
  int qk_w = 0, z_w = 0;
  for (int h = 0; h < c.n_head; ++h) {
    qk_off[h] = qk_w;
    z_off[h] = z_w;
    k_off[h] = kc->segments[c.head_seg[h]].col;
    k_len[h] = kc->segments[c.head_seg[h]].len;
    qk_w += k_len[h];
    z_w += vc->segments[c.head_seg[h]].len;
  }
  const int64_t ldqk = qk_w + 3, ldz = z_w + 1;
  const auto q = randn(c.n_q * ldqk, 5, 0.7f);
  std::vector<int> pos(c.n_q);
  for (int i = 0; i < c.n_q; ++i) pos[i] = c.start + i;
  const auto vrows = encoded_rows(*vc, n_kv, 8);
  std::vector<uint8_t> krows;
  QuantAttentionParams p;
  p.n_q = c.n_q;
  p.q_pos = pos.data();
  p.n_head = c.n_head;
  p.qk = q.data();
  p.ldqk = ldqk;
  p.qk_off = qk_off.data();
  if (c.plain_keys) {
    const auto kf = randn(static_cast<size_t>(n_kv) * kc->width, 7, 1.5f);
    krows.resize(dtype_bytes(DType::kF16, kf.size()));
    store_row(krows.data(), DType::kF16, kf.data(), static_cast<int64_t>(kf.size()));
    p.k = {krows.data(), dtype_bytes(DType::kF16, kc->width),
           nullptr,      DType::kF16,
           nullptr,      k_off.data(),
           k_len.data()};
  } else {
    krows = encoded_rows(*kc, n_kv, 7);
    p.k = {krows.data(), kc->row_bytes, &*kc, DType::kF32, c.head_seg.data()};
  }
  p.v = {vrows.data(), vc->row_bytes, &*vc, DType::kF32, c.head_seg.data()};
  p.ldz = ldz;
  p.z_off = z_off.data();
  p.scale = 0.3f;
  std::vector<float> a(c.n_q * ldz, 0.0f), b(c.n_q * ldz, 0.0f);
  p.z = a.data();
  ref::quant_attention(p);
  p.z = b.data();
  cpu::quant_attention(p);
  // Outputs are convex combinations of decoded values (|v| <~ 8).
  const int max_len = std::max(*std::max_element(c.k_segs.begin(), c.k_segs.end()),
                               *std::max_element(c.v_segs.begin(), c.v_segs.end()));
  const double tol = 64.0 * (max_len + n_kv) * kEps * 8.0;
  const auto d = test::max_abs_diff(a, b);
  EXPECT_LT(d.value, tol) << c.name << ": worst element " << d.index << " ref " << a[d.index]
                          << " cpu " << b[d.index];
}

INSTANTIATE_TEST_SUITE_P(Shapes, QuantAttention,
                         ::testing::Values(QaCase{"dense_q8_0_gqa",
                                                  4,
                                                  5,
                                                  40,
                                                  q8_0_format(),
                                                  q8_0_format(),
                                                  {64, 64},
                                                  {64, 64},
                                                  {0, 0, 1, 1},
                                                  false},
                                           QaCase{"dense_q4_0_decode",
                                                  2,
                                                  1,
                                                  300,
                                                  q4_0_format(),
                                                  q4_0_format(),
                                                  {32, 32},
                                                  {32, 32},
                                                  {0, 1},
                                                  false},
                                           QaCase{"latent_asym3_odd_ranks",
                                                  3,
                                                  7,
                                                  11,
                                                  {QuantScheme::kAffine, 3, 8},
                                                  {QuantScheme::kAffine, 2, 32},
                                                  {13, 29},
                                                  {21, 6},
                                                  {0, 1, 1},
                                                  false},
                                           QaCase{"latent_sym4_joint",
                                                  4,
                                                  3,
                                                  0,
                                                  {QuantScheme::kSymmetric, 4, 0},
                                                  {QuantScheme::kSymmetric, 8, 16},
                                                  {45},
                                                  {37},
                                                  {0, 0, 0, 0},
                                                  false},
                                           QaCase{"rebuild_plain_keys_q_values",
                                                  4,
                                                  6,
                                                  20,
                                                  {QuantScheme::kAffine, 8, 32},
                                                  {QuantScheme::kAffine, 4, 32},
                                                  {16, 16},
                                                  {11, 20},
                                                  {0, 0, 1, 1},
                                                  true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(QuantAttention, EqualsDenseAttentionOverTheDequantisedCache) {
  const int n_head = 4, n_kv_head = 2, hd = 64, n_q = 3, start = 50, n_kv = start + n_q,
            kv = n_kv_head * hd;
  auto codec = RowCodec::create(q4_0_format(), {hd, hd});
  ASSERT_TRUE(codec.ok());
  const auto krows = encoded_rows(*codec, n_kv, 1), vrows = encoded_rows(*codec, n_kv, 2);
  std::vector<float> kd(n_kv * kv), vd(n_kv * kv);
  for (int j = 0; j < n_kv; ++j) {
    cpu::decode_row(*codec, krows.data() + j * codec->row_bytes, kd.data() + j * kv);
    cpu::decode_row(*codec, vrows.data() + j * codec->row_bytes, vd.data() + j * kv);
  }
  const auto q = randn(n_q * n_head * hd, 3);
  std::vector<int> pos = {start, start + 1, start + 2}, off(n_head), seg(n_head);
  for (int h = 0; h < n_head; ++h) {
    off[h] = h * hd;
    seg[h] = h / 2;
  }
  std::vector<float> a(n_q * n_head * hd), b(a.size());
  AttentionParams ap;
  ap.q = q.data();
  ap.ldq = n_head * hd;
  ap.q_pos = pos.data();
  ap.n_q = n_q;
  ap.k = kd.data();
  ap.v = vd.data();
  ap.ldkv = kv;
  ap.n_kv = n_kv;
  ap.n_head = n_head;
  ap.n_kv_head = n_kv_head;
  ap.head_dim = hd;
  ap.scale = 0.125f;
  ap.out = a.data();
  ap.ldo = n_head * hd;
  cpu::attention(ap);
  QuantAttentionParams p;
  p.n_q = n_q;
  p.q_pos = pos.data();
  p.n_head = n_head;
  p.qk = q.data();
  p.ldqk = n_head * hd;
  p.qk_off = off.data();
  p.k = {krows.data(), codec->row_bytes, &*codec, DType::kF32, seg.data()};
  p.v = {vrows.data(), codec->row_bytes, &*codec, DType::kF32, seg.data()};
  p.z = b.data();
  p.ldz = n_head * hd;
  p.z_off = off.data();
  p.scale = 0.125f;
  cpu::quant_attention(p);
  EXPECT_LT(test::max_abs_diff(a, b).value, 1e-5);
}

// Runs a KIVI cache over `chunks` of new tokens; returns the cpu attention output of every
// position (and checks cpu == ref after each write).
std::vector<float> kivi_outputs(const std::vector<int>& chunks, const KiviParams& kp, int n_head,
                                int n_kv_head, int hd, const std::vector<float>& k,
                                const std::vector<float>& v, const std::vector<float>& q) {
  int total = 0;
  for (int c : chunks) total += c;
  const int kv = n_kv_head * hd, qd = n_head * hd;
  auto cache = KiviKvCache::create(1, 1, total, n_kv_head, hd, kp);
  EXPECT_TRUE(cache.ok()) << cache.status().to_string();
  std::vector<float> out(static_cast<size_t>(total) * qd), ref_out(qd * static_cast<size_t>(total));
  int pos = 0;
  for (int n : chunks) {
    (*cache)->write(0, 0, pos, n, k.data() + pos * kv, kv, v.data() + pos * kv, kv);
    std::vector<int> qpos(n);
    for (int i = 0; i < n; ++i) qpos[i] = pos + i;
    KiviAttentionParams p;
    p.n_q = n;
    p.q_pos = qpos.data();
    p.q = q.data() + static_cast<size_t>(pos) * qd;
    p.ldq = qd;
    p.n_head = n_head;
    p.n_kv_head = n_kv_head;
    p.head_dim = hd;
    p.scale = 0.2f;
    p.ldo = qd;
    (*cache)->fill_attention(0, 0, &p);
    p.out = out.data() + static_cast<size_t>(pos) * qd;
    cpu::kivi_attention(p);
    p.out = ref_out.data() + static_cast<size_t>(pos) * qd;
    ref::kivi_attention(p);
    (*cache)->advance(0, n);
    pos += n;
  }
  const auto d = test::max_abs_diff(out, ref_out);
  EXPECT_LT(d.value, 64.0 * (hd + total) * kEps * 8.0) << "cpu vs ref at " << d.index;
  return out;
}

TEST(KiviAttention, PrefillEqualsChunkedDecodeAndCpuMatchesReference) {
  const int n_head = 4, n_kv_head = 2, hd = 32, total = 300;
  const KiviParams kp{2, 8, 32};
  const auto k = randn(total * n_kv_head * hd, 1), v = randn(total * n_kv_head * hd, 2);
  const auto q = randn(total * n_head * hd, 3);
  const auto whole = kivi_outputs({total}, kp, n_head, n_kv_head, hd, k, v, q);
  const auto chunked =
      kivi_outputs({50, 1, 1, 37, 64, 1, 100, 46}, kp, n_head, n_kv_head, hd, k, v, q);
  const auto d = test::max_abs_diff(whole, chunked);
  EXPECT_EQ(d.value, 0.0) << "position " << d.index / (n_head * hd);
  // 4-bit with another group/residual: the same property.
  const KiviParams kp4{4, 16, 48};
  EXPECT_EQ(test::max_abs_diff(kivi_outputs({total}, kp4, n_head, n_kv_head, hd, k, v, q),
                               kivi_outputs({7, 93, 1, 199}, kp4, n_head, n_kv_head, hd, k, v, q))
                .value,
            0.0);
}

TEST(KiviAttention, QuantizationIsVisibleOnlyOutsideTheWindow) {
  // With R >= the sequence everything stays fp16: the output equals f16 dense attention.
  const int n_head = 2, n_kv_head = 2, hd = 32, total = 40, kv = n_kv_head * hd;
  const auto k = randn(total * kv, 4), v = randn(total * kv, 5), q = randn(total * n_head * hd, 6);
  const auto out = kivi_outputs({total}, KiviParams{2, 8, 64}, n_head, n_kv_head, hd, k, v, q);
  std::vector<uint8_t> k16(total * kv * 2), v16(total * kv * 2);
  store_row(k16.data(), DType::kF16, k.data(), total * kv);
  store_row(v16.data(), DType::kF16, v.data(), total * kv);
  std::vector<int> pos(total);
  for (int i = 0; i < total; ++i) pos[i] = i;
  std::vector<float> want(out.size());
  AttentionParams ap;
  ap.q = q.data();
  ap.ldq = n_head * hd;
  ap.q_pos = pos.data();
  ap.n_q = total;
  ap.k = k16.data();
  ap.v = v16.data();
  ap.ldkv = kv;
  ap.kv_type = DType::kF16;
  ap.n_kv = total;
  ap.n_head = n_head;
  ap.n_kv_head = n_kv_head;
  ap.head_dim = hd;
  ap.scale = 0.2f;
  ap.out = want.data();
  ap.ldo = n_head * hd;
  cpu::attention(ap);
  EXPECT_LT(test::max_abs_diff(out, want).value, 1e-5);
  // With a small window the quantized rows change the result.
  const auto q2 = kivi_outputs({total}, KiviParams{2, 8, 8}, n_head, n_kv_head, hd, k, v, q);
  EXPECT_GT(test::max_abs_diff(q2, want).value, 1e-3);
}

TEST(KiviCache, BytesFollowTheFormula) {
  const int n_kv_head = 4, hd = 64, kv = n_kv_head * hd;
  for (KiviParams kp : {KiviParams{2, 32, 128}, KiviParams{4, 16, 48}, KiviParams{3, 32, 32}}) {
    auto c = KiviKvCache::create(2, 1, 1000, n_kv_head, hd, kp);
    ASSERT_TRUE(c.ok());
    // Independent: per token b bits per key and value element, a (scale, min) fp16 pair per
    // channel per G key tokens and per G value elements of each head.
    const int64_t k_row = n_kv_head * ((hd * kp.bits + 7) / 8);
    const int64_t v_row =
        n_kv_head * (((hd + kp.group - 1) / kp.group) * 4 + (hd * kp.bits + 7) / 8);
    EXPECT_EQ((*c)->bytes_per_token(1), k_row + v_row + (4 * kv + kp.group - 1) / kp.group);
    for (int64_t n : {0, 1, 47, 48, 128, 129, 300, 1000}) {
      const int64_t qk = n / kp.residual * kp.residual, qv = std::max<int64_t>(0, n - kp.residual);
      const int64_t want =
          qk * k_row + qk / kp.group * kv * 4 + (n - qk) * kv * 2 + qv * v_row + (n - qv) * kv * 2;
      EXPECT_EQ((*c)->bytes_at_length(0, n), want) << n;
    }
  }
  EXPECT_FALSE(
      KiviKvCache::create(1, 1, 10, 2, 32, KiviParams{2, 32, 48}).ok());  // R not a multiple of G
}

}  // namespace
}  // namespace lrkv
