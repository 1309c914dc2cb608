// Fused rebuild-keys attention against the fp64 references (ref::rebuild_keys, then
// ref::latent_attention over the rebuilt f32 keys): every head_dim, both RoPE layouts, Llama-3
// frequency scaling, a pre-RoPE bias, position offsets, GQA with groups of different sizes and
// ranks, unaligned latent offsets, batches of sequences, decode and prefill chunks.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>

#include "cuda_test_util.h"
#include "kernels/cuda/rebuild_attention.h"
#include "kernels/latent_attention.h"
#include "kernels/rebuild_keys.h"
#include "model/llama_config.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;

struct RebuildCase {
  int head_dim;
  RopeLayout layout;
  bool bias, llama3, aligned;
  int pos0, n_q;
  DType t;
};

// 8 query heads over 4 KV heads (GQA 2); groups {kv0}, {kv1, kv2}, {kv3}.
struct Layout {
  std::vector<int> g_rows, g_row_off, g_lat_off, g_rank, g_vrank, g_vlat_off;
  int ldc = 0, ldv = 0;
};

Layout make_layout(int hd, bool aligned) {
  Layout L;
  L.g_rows = {hd, 2 * hd, hd};
  L.g_row_off = {0, hd, 3 * hd};
  L.g_rank = aligned ? std::vector<int>{40, 72, 24} : std::vector<int>{37, 70, 21};
  L.g_vrank = aligned ? std::vector<int>{48, 96, 16} : std::vector<int>{45, 99, 13};
  int c = 0, v = 0;
  for (int g = 0; g < 3; ++g) {
    L.g_lat_off.push_back(c);
    L.g_vlat_off.push_back(v);
    c += L.g_rank[g];
    v += L.g_vrank[g];
  }
  L.ldc = aligned ? c : c + 1;
  L.ldv = aligned ? (v + 7) / 8 * 8 : v + 3;
  return L;
}

void run_rebuild_case(const RebuildCase& c) {
  const int hd = c.head_dim, n_head = 8, n_kv = 4, group = 2;
  const std::vector<int> lens = {3, 130, 3001};
  const int n_seq = 3, cap = 3001;
  const Layout L = make_layout(hd, c.aligned);
  auto cf = test::randn(size_t(n_seq) * cap * L.ldc, 31);
  auto vf = test::randn(size_t(n_seq) * cap * L.ldv, 32);
  const auto cl = test::to_dtype(cf, c.t), vl = test::to_dtype(vf, c.t);
  std::vector<std::vector<float>> up(3);
  for (int g = 0; g < 3; ++g)
    up[g] = test::randn(size_t(L.g_rows[g]) * L.g_rank[g], 40 + g, 1.0f / std::sqrt(L.g_rank[g]));
  auto bias = test::randn(size_t(n_kv) * hd, 45, 0.5f);
  LlamaConfig cfg;
  cfg.head_dim = hd;
  cfg.rope_theta = 10000.0f;
  cfg.rope_scaling.llama3 = c.llama3;
  cfg.rope_scaling.factor = 8.0f;
  std::vector<float> inv_freq(hd / 2);
  rope_inverse_frequencies(cfg, inv_freq.data());
  const int qd = n_head * hd;
  auto q = test::randn(size_t(n_seq) * c.n_q * qd, 33);
  std::vector<int> pos(size_t(n_seq) * c.n_q);
  for (int b = 0; b < n_seq; ++b) {
    for (int t = 0; t < c.n_q; ++t) pos[b * c.n_q + t] = std::max(0, lens[b] - c.n_q + t);
  }
  std::vector<int> qk_off(n_head), v_off(n_head), v_len(n_head), z_off(n_head);
  int ldz = 0;
  for (int h = 0; h < n_head; ++h) {
    const int kvh = h / group, g = kvh == 0 ? 0 : (kvh < 3 ? 1 : 2);
    qk_off[h] = h * hd;
    v_off[h] = L.g_vlat_off[g];
    v_len[h] = L.g_vrank[g];
    z_off[h] = ldz;
    ldz += v_len[h];
  }

  auto dq = DeviceBuffer::from_host(q), dc = DeviceBuffer::from_host(cl), dv = DeviceBuffer::from_host(vl);
  auto dpos = DeviceBuffer::from_host(pos), dbias = DeviceBuffer::from_host(bias);
  auto dfreq = DeviceBuffer::from_host(inv_freq);
  auto dz = DeviceBuffer::create(size_t(n_seq) * c.n_q * ldz * sizeof(float));
  ASSERT_TRUE(dq.ok() && dc.ok() && dv.ok() && dpos.ok() && dbias.ok() && dfreq.ok() && dz.ok());
  std::vector<DeviceBuffer> dup;
  std::vector<const float*> up_dev, up_host;
  for (int g = 0; g < 3; ++g) {
    auto d = DeviceBuffer::from_host(up[g]);
    ASSERT_TRUE(d.ok());
    up_dev.push_back(d->as<float>());
    up_host.push_back(up[g].data());
    dup.push_back(std::move(d).value());
  }
  LRKV_ASSERT_OK(dz->fill_bytes(0xFF));

  cuda::RebuildAttentionBatch b;
  LatentAttentionParams& a = b.att;
  a.n_q = c.n_q;
  a.q_pos = dpos->as<int>();
  a.n_head = n_head;
  a.qk = dq->as<float>();
  a.ldqk = qd;
  a.qk_off = qk_off.data();
  a.v = dv->data();
  a.ldv = L.ldv;
  a.v_type = c.t;
  a.v_off = v_off.data();
  a.v_len = v_len.data();
  a.z = dz->as<float>();
  a.ldz = ldz;
  a.z_off = z_off.data();
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  RebuildKeysParams& k = b.keys;
  k.c = dc->data();
  k.ldc = L.ldc;
  k.c_type = c.t;
  k.pos0 = c.pos0;
  k.n_groups = 3;
  k.group_rows = L.g_rows.data();
  k.group_row_off = L.g_row_off.data();
  k.group_lat_off = L.g_lat_off.data();
  k.group_rank = L.g_rank.data();
  k.up = up_dev.data();
  k.bias = c.bias ? dbias->as<float>() : nullptr;
  k.head_dim = hd;
  k.inv_freq = dfreq->as<float>();
  k.layout = c.layout;
  b.n_kv_head = n_kv;
  b.n_seq = n_seq;
  b.q_seq = int64_t{c.n_q} * qd;
  b.c_seq = int64_t{cap} * L.ldc;
  b.v_seq = int64_t{cap} * L.ldv;
  b.z_seq = int64_t{c.n_q} * ldz;
  b.max_kv = cap;
  auto ws_bytes = cuda::rebuild_attention_workspace_bytes(b);
  LRKV_ASSERT_OK(ws_bytes.status());
  auto ws = DeviceBuffer::create(*ws_bytes);
  ASSERT_TRUE(ws.ok());
  b.workspace = ws->data();
  b.workspace_bytes = ws->bytes();
  LRKV_ASSERT_OK(cuda::rebuild_attention(b, nullptr));
  LRKV_ASSERT_OK(cuda::cuda_status(cudaDeviceSynchronize(), "sync"));
  std::vector<float> z(size_t(n_seq) * c.n_q * ldz), z_ref(z.size());
  LRKV_ASSERT_OK(dz->download(z.data(), z.size() * sizeof(float)));

  std::vector<int> k_off(n_head), k_len(n_head, hd);
  for (int h = 0; h < n_head; ++h) k_off[h] = (h / group) * hd;
  for (int s = 0; s < n_seq; ++s) {
    std::vector<float> keys(size_t(lens[s]) * n_kv * hd);
    RebuildKeysParams rk = k;
    rk.c = cl.data() + dtype_bytes(c.t, b.c_seq * s);
    rk.n_rows = lens[s];
    rk.up = up_host.data();
    rk.bias = c.bias ? bias.data() : nullptr;
    rk.inv_freq = inv_freq.data();
    rk.k = keys.data();
    rk.ldk = n_kv * hd;
    ref::rebuild_keys(rk);
    LatentAttentionParams r = a;
    r.q_pos = pos.data() + s * c.n_q;
    r.qk = q.data() + b.q_seq * s;
    r.k = keys.data();
    r.ldk = n_kv * hd;
    r.k_type = DType::kF32;
    r.k_off = k_off.data();
    r.k_len = k_len.data();
    r.v = vl.data() + dtype_bytes(c.t, b.v_seq * s);
    r.z = z_ref.data() + b.z_seq * s;
    ref::latent_attention(r);
  }
  const auto e = test::rel_err(z, z_ref);
  EXPECT_EQ(e.non_finite, 0u);
  EXPECT_LT(e.rel, test::tolerance(c.t)) << "hd " << hd << " " << dtype_name(c.t) << " layout "
                                         << static_cast<int>(c.layout) << ": " << test::describe(e, z, z_ref);
  std::printf("[rebuild hd=%d %s %s bias=%d llama3=%d aligned=%d pos0=%d n_q=%d] rel err %.2e\n", hd,
              std::string(dtype_name(c.t)).c_str(), c.layout == RopeLayout::kHalfSplit ? "half" : "inter", c.bias,
              c.llama3, c.aligned, c.pos0, c.n_q, e.rel);
}

TEST(CudaRebuildAttention, MatchesReferenceEveryHeadDimAndLayout) {
  LRKV_REQUIRE_CUDA();
  for (int hd : {64, 80, 96, 128}) {
    run_rebuild_case({hd, RopeLayout::kInterleaved, false, false, true, 0, 1, DType::kBF16});
    run_rebuild_case({hd, RopeLayout::kHalfSplit, true, true, true, 0, 1, DType::kF16});
  }
  run_rebuild_case({128, RopeLayout::kHalfSplit, true, false, false, 50000, 1, DType::kBF16});
  run_rebuild_case({96, RopeLayout::kInterleaved, true, true, false, 7, 4, DType::kF16});
  run_rebuild_case({128, RopeLayout::kInterleaved, false, false, true, 0, 6, DType::kBF16});
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
