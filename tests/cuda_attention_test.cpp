// CUDA split-K attention kernels against the fp64 CPU references on awkward shapes: latent
// attention (segments of several widths, clusters over 16 heads, unaligned segments), dense
// GQA attention at every supported head_dim, batches of sequences of different lengths, decode
// and prefill chunks. Outputs are poisoned (NaN) before each run; cache rows past each
// sequence's end are NaN too, so reading them would show.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cuda_test_util.h"
#include "kernels/attention.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/latent_attention.h"
#include "kernels/cuda/split_attention_args.h"
#include "kernels/latent_attention.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;
using test::rel_err;

// One head's segments: key segment [k_off, +k_len), value segment [v_off, +v_len).
struct Seg {
  int k_off, k_len, v_off, v_len;
};

struct LatentCase {
  const char* name;
  std::vector<Seg> heads;
  int ldk, ldv;
  std::vector<int> lens;  // per sequence: cached rows after the new queries
  int n_q;
  DType t;
  cuda::AttentionKernel kernel = cuda::AttentionKernel::kAuto;
  int block = 0;  // > 0: the cache is paged in blocks of this many rows (test::page_layout)
  int stages = 0;  // split-K pipeline (LatentAttentionBatch::stages)
  cuda::RowCopy copy = cuda::RowCopy::kAuto;
};

// Fills a [cap, ld] cache of each sequence: random rows below the length, NaN rows after.
std::vector<float> make_rows(int n_seq, int cap, int ld, const std::vector<int>& lens, uint32_t seed) {
  std::vector<float> v = test::randn(size_t(n_seq) * cap * ld, seed);
  for (int b = 0; b < n_seq; ++b) {
    for (size_t i = size_t(lens[b]) * ld; i < size_t(cap) * ld; ++i) v[size_t(b) * cap * ld + i] = NAN;
  }
  return v;
}

void run_latent_case(const LatentCase& c) {
  const int n_head = static_cast<int>(c.heads.size()), n_seq = static_cast<int>(c.lens.size());
  const int cap = *std::max_element(c.lens.begin(), c.lens.end());
  std::vector<int> qk_off(n_head), k_off(n_head), k_len(n_head), v_off(n_head), v_len(n_head), z_off(n_head);
  int ldqk = 0, ldz = 0;
  for (int h = 0; h < n_head; ++h) {
    k_off[h] = c.heads[h].k_off;
    k_len[h] = c.heads[h].k_len;
    v_off[h] = c.heads[h].v_off;
    v_len[h] = c.heads[h].v_len;
    qk_off[h] = ldqk;
    ldqk += k_len[h];
    z_off[h] = ldz;
    ldz += v_len[h];
  }
  auto kf = make_rows(n_seq, cap, c.ldk, c.lens, 11);
  auto vf = make_rows(n_seq, cap, c.ldv, c.lens, 12);
  auto q = test::randn(size_t(n_seq) * c.n_q * ldqk, 13, 0.5f);
  std::vector<int> pos(size_t(n_seq) * c.n_q);
  for (int b = 0; b < n_seq; ++b) {
    for (int t = 0; t < c.n_q; ++t) pos[b * c.n_q + t] = c.lens[b] - c.n_q + t;
  }
  const auto k = test::to_dtype(kf, c.t), v = test::to_dtype(vf, c.t);

  auto dq = DeviceBuffer::from_host(q), dk = DeviceBuffer::from_host(k), dv = DeviceBuffer::from_host(v);
  auto dpos = DeviceBuffer::from_host(pos);
  auto dz = DeviceBuffer::create(size_t(n_seq) * c.n_q * ldz * sizeof(float));
  ASSERT_TRUE(dq.ok() && dk.ok() && dv.ok() && dpos.ok() && dz.ok());
  LRKV_ASSERT_OK(dz->fill_bytes(0xFF));

  cuda::LatentAttentionBatch b;
  LatentAttentionParams& p = b.p;
  p.n_q = c.n_q;
  p.q_pos = dpos->as<int>();
  p.n_head = n_head;
  p.qk = dq->as<float>();
  p.ldqk = ldqk;
  p.qk_off = qk_off.data();
  p.k = dk->data();
  p.ldk = c.ldk;
  p.k_type = c.t;
  p.k_off = k_off.data();
  p.k_len = k_len.data();
  p.v = dv->data();
  p.ldv = c.ldv;
  p.v_type = c.t;
  p.v_off = v_off.data();
  p.v_len = v_len.data();
  p.z = dz->as<float>();
  p.ldz = ldz;
  p.z_off = z_off.data();
  p.scale = 0.3f;
  b.n_seq = n_seq;
  b.qk_seq = int64_t{c.n_q} * ldqk;
  b.k_seq = int64_t{cap} * c.ldk;
  b.v_seq = int64_t{cap} * c.ldv;
  b.z_seq = int64_t{c.n_q} * ldz;
  b.max_kv = cap;
  b.kernel = c.kernel;
  b.stages = c.stages;
  b.copy = c.copy;
  DeviceBuffer pk, pv, tables;  // paged copies of k, v and their block tables
  if (c.block > 0) {
    const int64_t eb = dtype_bytes(c.t, 1);
    const auto kp = test::page_layout(k, n_seq, cap, 1, b.k_seq * eb, 0, c.ldk * eb, c.block, 21);
    const auto vp = test::page_layout(v, n_seq, cap, 1, b.v_seq * eb, 0, c.ldv * eb, c.block, 21);
    auto a = DeviceBuffer::from_host(kp.bytes), bv = DeviceBuffer::from_host(vp.bytes);
    auto t = DeviceBuffer::from_host(kp.tables);
    ASSERT_TRUE(a.ok() && bv.ok() && t.ok());
    pk = std::move(*a);
    pv = std::move(*bv);
    tables = std::move(*t);
    p.k = pk.data();
    p.v = pv.data();
    b.k_seq = b.v_seq = 0;
    b.maps = SeqRowMaps{tables.as<int32_t>(), kp.ld, kp.shift};
  }
  auto ws_bytes = cuda::latent_attention_workspace_bytes(b);
  LRKV_ASSERT_OK(ws_bytes.status());
  auto ws = DeviceBuffer::create(*ws_bytes);
  ASSERT_TRUE(ws.ok());
  // NaN partials: the merge must select away the splits that saw no row, never read them.
  if (ws->bytes() > 0) LRKV_ASSERT_OK(ws->fill_bytes(0xFF));
  b.workspace = ws->data();
  b.workspace_bytes = ws->bytes();
  LRKV_ASSERT_OK(cuda::latent_attention(b, nullptr));
  LRKV_ASSERT_OK(cuda::cuda_status(cudaDeviceSynchronize(), "sync"));
  std::vector<float> z(size_t(n_seq) * c.n_q * ldz);
  LRKV_ASSERT_OK(dz->download(z.data(), z.size() * sizeof(float)));

  std::vector<float> z_ref(z.size());
  for (int s = 0; s < n_seq; ++s) {
    LatentAttentionParams r = p;
    r.q_pos = pos.data() + s * c.n_q;
    r.qk = q.data() + b.qk_seq * s;
    r.k = k.data() + dtype_bytes(c.t, int64_t{cap} * c.ldk * s);
    r.v = v.data() + dtype_bytes(c.t, int64_t{cap} * c.ldv * s);
    r.z = z_ref.data() + b.z_seq * s;
    ref::latent_attention(r);
  }
  const auto e = rel_err(z, z_ref);
  EXPECT_EQ(e.non_finite, 0u) << c.name;
  EXPECT_LT(e.rel, test::tolerance(c.t)) << c.name << " " << dtype_name(c.t) << ": " << test::describe(e, z, z_ref);
  std::printf("[latent %s %s n_q=%d%s stages=%d%s] rel err %.2e\n", c.name, std::string(dtype_name(c.t)).c_str(),
              c.n_q, c.block > 0 ? " paged" : "", c.stages, c.copy == cuda::RowCopy::kBulk ? " bulk" : c.copy == cuda::RowCopy::kSwizzled ? " swizzled" : "", e.rel);
}

// Heads 0-2 share a narrow group, head 3 is alone, heads 4-6 share a wide group (R = 128).
std::vector<Seg> mixed_heads(int shift) {
  return {{shift, 40, 0, 24},        {shift, 40, 0, 24},        {shift, 40, 0, 24},
          {40 + shift, 64, 24, 72},  {104 + shift, 120, 96, 33}, {104 + shift, 120, 96, 33},
          {104 + shift, 120, 96, 33}};
}

std::vector<Seg> wide_joint(int n) { return std::vector<Seg>(n, Seg{8, 200, 0, 256}); }

std::vector<Seg> per_head(int n, int r) {
  std::vector<Seg> h;
  for (int i = 0; i < n; ++i) h.push_back({i * r, r, i * r, r});
  return h;
}

TEST(CudaLatentAttention, MatchesReferenceOnAwkwardShapes) {
  LRKV_REQUIRE_CUDA();
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int n_q : {1, 5}) {
      run_latent_case({"mixed", mixed_heads(0), 232, 136, {5, 77, 1000, 4099}, n_q, t});
      run_latent_case({"mixed-unaligned", mixed_heads(3), 235, 131, {6, 333, 2500}, n_q, t});
      run_latent_case({"joint-20-heads", wide_joint(20), 216, 264, {9, 1500}, n_q, t});
      run_latent_case({"per-head-64", per_head(5, 64), 320, 320, {7, 40000}, n_q, t});
    }
  }
}

// The split-K kernel with 2 .. 5 tiles in flight (stages 3 .. 6; R = 256 fits 3), unpaged and
// paged: every pipeline depth the planner may pick or LRKV_ATTN_STAGES may force.
TEST(CudaLatentAttention, DeepPipelinesMatchReference) {
  LRKV_REQUIRE_CUDA();
  const auto split_k = cuda::AttentionKernel::kSplitK;
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int n_q : {1, 5}) {
      for (int st = 3; st <= cuda::kLatentMaxStages; ++st) {
        run_latent_case({"mixed", mixed_heads(0), 232, 136, {5, 77, 1000, 4099}, n_q, t, split_k, 0, st});
        run_latent_case({"mixed-unaligned", mixed_heads(3), 235, 131, {6, 333, 2500}, n_q, t, split_k, 0, st});
        run_latent_case({"per-head-64", per_head(8, 64), 512, 512, {40000}, n_q, t, split_k, 0, st});
        run_latent_case({"per-head-64", per_head(8, 64), 512, 512, {3000, 17}, n_q, t, split_k, 16, st});
      }
      run_latent_case({"joint-20-heads", wide_joint(20), 216, 264, {9, 1500}, n_q, t, split_k, 0, 3});
    }
  }
}

// The split-K kernel with one row copy at the given depths: segments narrower than R ("narrow"
// and the joint latent: R = 128 and 256 with zeroed pad columns, per-block width tests),
// full-width R = 64 / 128 heads (no width tests), partial last tiles, paged caches.
void run_row_copy_cases(cuda::RowCopy copy, const std::vector<int>& depths) {
  const auto split_k = cuda::AttentionKernel::kSplitK;
  const std::vector<Seg> narrow = {{0, 40, 0, 24}, {0, 40, 0, 24}, {0, 40, 0, 24}, {40, 64, 24, 72}};
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int n_q : {1, 5}) {
      for (int st : depths) {
        run_latent_case({"narrow", narrow, 104, 96, {5, 77, 1000, 4099}, n_q, t, split_k, 0, st, copy});
        run_latent_case({"per-head-64", per_head(8, 64), 512, 512, {40000}, n_q, t, split_k, 0, st, copy});
        run_latent_case({"per-head-64", per_head(8, 64), 512, 512, {3000, 17}, n_q, t, split_k, 16, st, copy});
        run_latent_case({"per-head-128", per_head(4, 128), 512, 512, {9000, 130}, n_q, t, split_k, 0, st, copy});
      }
      for (int st : {2, 3}) {
        run_latent_case({"joint-20-heads", wide_joint(20), 216, 264, {9, 1500}, n_q, t, split_k, 0, st, copy});
      }
    }
  }
}

// Rows copied by cp.async.bulk through mbarrier stages (sm_90), every depth.
TEST(CudaLatentAttention, BulkRowCopiesMatchReference) {
  LRKV_REQUIRE_CUDA();
  if (!cuda::sm90_code()) GTEST_SKIP() << "bulk copies need the sm_90 code (compute capability 9.x)";
  run_row_copy_cases(cuda::RowCopy::kBulk, {2, 3, 4, cuda::kLatentMaxStages});
}

// Unpadded swizzled tiles (tile_swizzle.cuh), any compute capability.
TEST(CudaLatentAttention, SwizzledTilesMatchReference) {
  LRKV_REQUIRE_CUDA();
  run_row_copy_cases(cuda::RowCopy::kSwizzled, {2, 3, cuda::kLatentMaxStages});
}

// A depth whose tiles do not fit shared memory is refused with the width named, not launched.
TEST(CudaLatentAttention, TooDeepPipelineIsAnError) {
  LRKV_REQUIRE_CUDA();
  // Two heads of one 200/256-wide joint latent: R = 256, three stages at most.
  std::vector<int> qk_off{0, 200}, k_off(2, 8), k_len(2, 200), v_off(2, 0), v_len(2, 256), z_off{0, 256};
  std::vector<int> pos{0};
  cuda::LatentAttentionBatch b;
  b.p.n_q = 1;
  b.p.n_head = 2;
  b.p.qk_off = qk_off.data();
  b.p.k_off = k_off.data();
  b.p.k_len = k_len.data();
  b.p.v_off = v_off.data();
  b.p.v_len = v_len.data();
  b.p.z_off = z_off.data();
  b.p.ldk = 216;
  b.p.ldv = 264;
  b.p.k_type = b.p.v_type = DType::kF16;
  // Never dereferenced: planning fails before any launch.
  float dummy = 0.0f;
  b.p.qk = b.p.z = &dummy;
  b.p.q_pos = pos.data();
  b.p.k = b.p.v = &dummy;
  b.max_kv = 1000;
  b.kernel = cuda::AttentionKernel::kSplitK;
  b.stages = 4;
  const Status s = cuda::latent_attention_workspace_bytes(b).status();
  EXPECT_EQ(s.code(), ErrorCode::kUnsupported);
  EXPECT_NE(s.message().find("width 256"), std::string::npos) << s.message();
  b.stages = cuda::kLatentMaxStages + 1;
  EXPECT_EQ(cuda::latent_attention_workspace_bytes(b).status().code(), ErrorCode::kInvalidArgument);
  // Bulk copies of segments that are not multiples of 8 values: refused, not launched.
  b.stages = 2;
  b.copy = cuda::RowCopy::kBulk;
  k_len.assign(2, 201);
  const Status u = cuda::latent_attention_workspace_bytes(b).status();
  EXPECT_EQ(u.code(), ErrorCode::kUnsupported);
  EXPECT_NE(u.message().find("multiples of 8"), std::string::npos) << u.message();
  // Swizzled tiles of rows that are not 16-byte aligned (offset 1 value): refused, not launched.
  b.copy = cuda::RowCopy::kSwizzled;
  k_off.assign(2, 1);
  const Status w = cuda::latent_attention_workspace_bytes(b).status();
  EXPECT_EQ(w.code(), ErrorCode::kUnsupported);
  EXPECT_NE(w.message().find("16-byte aligned"), std::string::npos) << w.message();
}

struct DenseCase {
  int n_head, n_kv_head, head_dim;
  std::vector<int> lens;
  int n_q;
  DType t;
  cuda::AttentionKernel kernel = cuda::AttentionKernel::kAuto;
};

void run_dense_case(const DenseCase& c) {
  const int n_seq = static_cast<int>(c.lens.size());
  const int cap = *std::max_element(c.lens.begin(), c.lens.end());
  const int qd = c.n_head * c.head_dim, kvd = c.n_kv_head * c.head_dim;
  auto kf = make_rows(n_seq, cap, kvd, c.lens, 21), vf = make_rows(n_seq, cap, kvd, c.lens, 22);
  auto q = test::randn(size_t(n_seq) * c.n_q * qd, 23);
  std::vector<int> pos(size_t(n_seq) * c.n_q);
  for (int b = 0; b < n_seq; ++b) {
    for (int t = 0; t < c.n_q; ++t) pos[b * c.n_q + t] = c.lens[b] - c.n_q + t;
  }
  const auto k = test::to_dtype(kf, c.t), v = test::to_dtype(vf, c.t);
  auto dq = DeviceBuffer::from_host(q), dk = DeviceBuffer::from_host(k), dv = DeviceBuffer::from_host(v);
  auto dpos = DeviceBuffer::from_host(pos);
  auto dout = DeviceBuffer::create(q.size() * sizeof(float));
  ASSERT_TRUE(dq.ok() && dk.ok() && dv.ok() && dpos.ok() && dout.ok());
  LRKV_ASSERT_OK(dout->fill_bytes(0xFF));
  cuda::AttentionBatch b;
  AttentionParams& p = b.p;
  p.q = dq->as<float>();
  p.ldq = qd;
  p.q_pos = dpos->as<int>();
  p.n_q = c.n_q;
  p.k = dk->data();
  p.v = dv->data();
  p.ldkv = kvd;
  p.kv_type = c.t;
  p.n_kv = cap;
  p.n_head = c.n_head;
  p.n_kv_head = c.n_kv_head;
  p.head_dim = c.head_dim;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.out = dout->as<float>();
  p.ldo = qd;
  b.n_seq = n_seq;
  b.q_seq = int64_t{c.n_q} * qd;
  b.kv_seq = int64_t{cap} * kvd;
  b.out_seq = b.q_seq;
  b.max_kv = cap;
  b.kernel = c.kernel;
  auto ws_bytes = cuda::attention_workspace_bytes(b);
  LRKV_ASSERT_OK(ws_bytes.status());
  auto ws = DeviceBuffer::create(*ws_bytes);
  ASSERT_TRUE(ws.ok());
  if (ws->bytes() > 0) LRKV_ASSERT_OK(ws->fill_bytes(0xFF));  // NaN partials (see run_latent_case)
  b.workspace = ws->data();
  b.workspace_bytes = ws->bytes();
  LRKV_ASSERT_OK(cuda::attention(b, nullptr));
  LRKV_ASSERT_OK(cuda::cuda_status(cudaDeviceSynchronize(), "sync"));
  std::vector<float> out(q.size()), out_ref(q.size());
  LRKV_ASSERT_OK(dout->download(out.data(), out.size() * sizeof(float)));
  for (int s = 0; s < n_seq; ++s) {
    AttentionParams r = p;
    r.q = q.data() + b.q_seq * s;
    r.q_pos = pos.data() + s * c.n_q;
    r.k = k.data() + dtype_bytes(c.t, b.kv_seq * s);
    r.v = v.data() + dtype_bytes(c.t, b.kv_seq * s);
    r.n_kv = c.lens[s];
    r.out = out_ref.data() + b.q_seq * s;
    ref::attention(r);
  }
  const auto e = rel_err(out, out_ref);
  EXPECT_EQ(e.non_finite, 0u);
  EXPECT_LT(e.rel, test::tolerance(c.t)) << "hd " << c.head_dim << " " << dtype_name(c.t) << " n_q " << c.n_q
                                         << ": " << test::describe(e, out, out_ref);
  std::printf("[dense hd=%d %s n_q=%d] rel err %.2e\n", c.head_dim, std::string(dtype_name(c.t)).c_str(), c.n_q,
              e.rel);
}

TEST(CudaDenseAttention, GqaEveryHeadDimMatchesReference) {
  LRKV_REQUIRE_CUDA();
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 80, 96, 128}) {
      run_dense_case({8, 2, hd, {1, 300, 2049}, 1, t});
      run_dense_case({8, 2, hd, {4, 300, 2049}, 3, t});
    }
  }
  run_dense_case({6, 6, 128, {65, 9000}, 1, DType::kF16});   // MHA
  run_dense_case({32, 8, 128, {40, 200}, 40, DType::kBF16});  // long prefill chunk: many row tiles
}

// The 64-row prefill kernel (prefill_attention.cu), forced on shapes the automatic choice would
// give the split-K kernel too: chunks that leave a CTA partly padding, single queries, MHA
// (one head per cluster), a whole long prompt at once, unaligned segments (scalar loads).
TEST(CudaPrefillAttention, MatchesReferenceOnEveryShape) {
  LRKV_REQUIRE_CUDA();
  using cuda::AttentionKernel;
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int n_q : {1, 70}) {
      run_latent_case({"mixed", mixed_heads(0), 232, 136, {77, 1000, 4099}, n_q, t, AttentionKernel::kPrefill});
      run_latent_case({"mixed-unaligned", mixed_heads(3), 235, 131, {333, 2500}, n_q, t, AttentionKernel::kPrefill});
      run_latent_case({"joint-20-heads", wide_joint(20), 216, 264, {90, 1500}, n_q, t, AttentionKernel::kPrefill});
    }
    for (int hd : {64, 128}) {
      run_dense_case({8, 2, hd, {300, 2049}, 3, t, AttentionKernel::kPrefill});
      run_dense_case({32, 8, hd, {130, 400}, 130, t, AttentionKernel::kPrefill});
    }
    run_dense_case({6, 6, 128, {200, 1500}, 200, t, AttentionKernel::kPrefill});  // MHA
  }
  // A whole 520-token prompt (every row sees a different prefix): 264 CTAs, so the automatic
  // choice takes the prefill kernel on GPUs of up to 264 multiprocessors. (Kept short: a
  // 3000-token prompt made the fp64 reference 5 minutes of the CUDA suite.)
  run_dense_case({32, 8, 128, {520}, 520, DType::kF16});
}

// Paged caches (blocks of 16 and 64 rows, shuffled): the split-K and prefill kernels read each
// row through the block table, vector and scalar loaders, against the same fp64 reference.
TEST(CudaLatentAttention, PagedCachesMatchReference) {
  LRKV_REQUIRE_CUDA();
  using cuda::AttentionKernel;
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (AttentionKernel k : {AttentionKernel::kSplitK, AttentionKernel::kPrefill}) {
      for (int block : {16, 64}) {
        for (int n_q : {1, 70}) {
          run_latent_case({"mixed", mixed_heads(0), 232, 136, {77, 1000, 2100}, n_q, t, k, block});
          run_latent_case({"mixed-unaligned", mixed_heads(3), 235, 131, {333, 1500}, n_q, t, k, block});
        }
      }
    }
  }
}

TEST(CudaLatentAttention, RejectsUnsupportedShapes) {
  LRKV_REQUIRE_CUDA();
  std::vector<int> off = {0}, len = {300};
  cuda::LatentAttentionBatch b;
  b.p.n_q = 1;
  b.p.n_head = 1;
  int dummy = 0;
  b.p.q_pos = &dummy;
  b.p.qk = reinterpret_cast<float*>(&dummy);
  b.p.k = b.p.v = &dummy;
  b.p.z = reinterpret_cast<float*>(&dummy);
  b.p.qk_off = b.p.k_off = b.p.v_off = b.p.z_off = off.data();
  b.p.k_len = b.p.v_len = len.data();
  b.p.k_type = b.p.v_type = DType::kF16;
  b.max_kv = 10;
  const Status s = cuda::latent_attention(b, nullptr);
  EXPECT_EQ(s.code(), ErrorCode::kUnsupported) << s.to_string();
  b.p.k_type = b.p.v_type = DType::kF32;
  len[0] = 64;
  EXPECT_EQ(cuda::latent_attention(b, nullptr).code(), ErrorCode::kUnsupported);
  b.p.k_type = b.p.v_type = DType::kF16;
  b.stages = cuda::kLatentMaxStages + 1;  // rejected before any launch (the pointers above are dummies)
  const Status st = cuda::latent_attention(b, nullptr);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.to_string();
  EXPECT_NE(st.message().find(std::to_string(cuda::kLatentMaxStages + 1) + " pipeline stages"), std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
