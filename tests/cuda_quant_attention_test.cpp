// Quantized latents on the GPU (kernels/cuda/quant_latent_attention.h):
//  - the device encoder writes exactly the bytes of lrkv::encode_row (every scheme, 1..8 bits,
//    groups 32 / 20 / 7 / whole slice, awkward segment lengths, zero / constant / huge / tiny rows);
//  - attention over rows encoded by the CPU codec matches lrkv::ref::quant_attention (fp64) on
//    awkward shapes: segments of 40/64/24 keys and 24/72/33 values in token rows (unaligned
//    byte and 4-byte copies), equal ranks in segment-major layout (16-byte block copies), a
//    20-head cluster on a 200/256 group (R = 256), batches of sequences of different lengths
//    whose rows past the end are 0xFF (NaN scales if read), decode and prefill chunks;
//  - CudaEngine with quantized latents against the CPU Engine on a quantized latent cache.
#ifdef LRKV_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "backend/cuda/cuda_engine.h"
#include "cuda_test_util.h"
#include "kernels/cuda/quant_latent_attention.h"
#include "kernels/quant_attention.h"
#include "latent_test_model.h"
#include "logits_compare.h"
#include "model/cpu_engine.h"

namespace lrkv {
namespace {

using cuda::DeviceBuffer;
using test::rel_err;

QuantFormat fmt_of(QuantScheme s, int bits, int group) { return QuantFormat{s, bits, group}; }

// Rows [n, width] with a few special rows: zeros, constant, huge (saturating scales), tiny
// (subnormal scales), one large outlier channel.
std::vector<float> special_rows(int n, int width, uint32_t seed) {
  auto x = test::randn(size_t(n) * width, seed);
  for (int c = 0; c < width; ++c) {
    x[c] = 0.0f;                                   // row 0: zeros
    if (n > 1) x[size_t(width) + c] = 0.37f;        // row 1: constant
    if (n > 2) x[size_t(2) * width + c] *= 1e5f;    // row 2: beyond fp16
    if (n > 3) x[size_t(3) * width + c] *= 1e-6f;   // row 3: tiny
  }
  for (int r = 4; r < n; ++r) x[size_t(r) * width] *= 20.0f;
  return x;
}

TEST(CudaQuantRows, EncoderIsBitIdenticalToCpuCodec) {
  LRKV_REQUIRE_CUDA();
  const std::vector<int> lens = {40, 64, 24, 33, 256, 7, 1};
  int width = 0;
  for (int l : lens) width += l;
  const int n = 37;
  const auto x = special_rows(n, width, 3);
  auto dx = DeviceBuffer::from_host(x);
  ASSERT_TRUE(dx.ok());
  std::vector<QuantFormat> formats;
  for (int bits : {1, 2, 3, 4, 5, 8}) {
    for (int group : {32, 20, 7, 0}) formats.push_back(fmt_of(QuantScheme::kAffine, bits, group));
  }
  for (int bits : {2, 3, 4, 8}) {
    for (int group : {32, 0, 16}) formats.push_back(fmt_of(QuantScheme::kSymmetric, bits, group));
  }
  for (const QuantFormat& f : formats) {
    auto codec = RowCodec::create(f, lens);
    ASSERT_TRUE(codec.ok()) << codec.status().to_string();
    std::vector<uint8_t> want(size_t(n) * codec->row_bytes), got(want.size(), 0xAB);
    for (int r = 0; r < n; ++r) encode_row(*codec, x.data() + size_t(r) * width, want.data() + size_t(r) * codec->row_bytes);
    std::vector<int> col, len;
    std::vector<int64_t> dst;
    for (const RowSegment& s : codec->segments) {
      col.push_back(s.col);
      len.push_back(s.len);
      dst.push_back(s.byte);
    }
    auto dout = DeviceBuffer::create(want.size());
    ASSERT_TRUE(dout.ok());
    LRKV_ASSERT_OK(dout->upload(got.data(), got.size()));
    cuda::QuantEncodeParams p;
    p.src = dx->as<float>();
    p.ld_src = width;
    p.rows = n;
    p.format = f;
    p.n_segments = static_cast<int>(lens.size());
    p.seg_col = col.data();
    p.seg_len = len.data();
    p.seg_dst = dst.data();
    p.dst = dout->data();
    p.row_bytes = codec->row_bytes;
    LRKV_ASSERT_OK(cuda::quant_encode_rows(p, nullptr));
    LRKV_ASSERT_OK(cuda::cuda_status(cudaDeviceSynchronize(), "sync"));
    LRKV_ASSERT_OK(dout->download(got.data(), got.size()));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i] != got[i] && bad++ == 0) first = i;
    }
    EXPECT_EQ(bad, 0u) << f.name() << ": first differing byte " << first << " (row " << first / codec->row_bytes
                       << ", byte " << first % codec->row_bytes << "): cpu " << int(want[first]) << " gpu "
                       << int(got[first]);
    // The same rows as the first side of a two-side launch (the engine's keys + values), the
    // second side in int4 g32: both bit-identical.
    const QuantFormat f2 = fmt_of(QuantScheme::kAffine, 4, 32);
    auto codec2 = RowCodec::create(f2, lens);
    ASSERT_TRUE(codec2.ok());
    std::vector<uint8_t> want2(size_t(n) * codec2->row_bytes), got2(want2.size());
    for (int r = 0; r < n; ++r) {
      encode_row(*codec2, x.data() + size_t(r) * width, want2.data() + size_t(r) * codec2->row_bytes);
    }
    std::vector<int64_t> dst2;
    for (const RowSegment& s : codec2->segments) dst2.push_back(s.byte);
    auto dout2 = DeviceBuffer::create(want2.size());
    ASSERT_TRUE(dout2.ok());
    LRKV_ASSERT_OK(dout->fill_bytes(0xAB));
    LRKV_ASSERT_OK(dout2->fill_bytes(0xAB));
    cuda::QuantEncodeParams p2 = p;
    p2.format = f2;
    p2.seg_dst = dst2.data();
    p2.dst = dout2->data();
    p2.row_bytes = codec2->row_bytes;
    LRKV_ASSERT_OK(cuda::quant_encode_rows(p, p2, nullptr));
    LRKV_ASSERT_OK(cuda::cuda_status(cudaDeviceSynchronize(), "sync"));
    LRKV_ASSERT_OK(dout->download(got.data(), got.size()));
    LRKV_ASSERT_OK(dout2->download(got2.data(), got2.size()));
    EXPECT_TRUE(got == want) << f.name() << ": first side of a two-side launch differs from encode_row";
    EXPECT_TRUE(got2 == want2) << f.name() << ": second side (" << f2.name() << ") differs from encode_row";
  }
  std::printf("[quant encode] %zu formats x %d rows x %zu segments: bit-identical to encode_row\n", formats.size(), n,
              lens.size());
}

struct QuantCase {
  const char* name;
  std::vector<int> k_lens, v_lens;  // segments (groups) of the K and V rows
  std::vector<int> head_group;      // per head
  QuantFormat kf, vf;
  std::vector<int> lens;            // per sequence
  int n_q;
  bool seg_major;                   // segment-major layout (equal segments) or token rows
  cuda::AttentionKernel kernel = cuda::AttentionKernel::kAuto;
  int block = 0;                    // > 0: paged in blocks of this many rows (test::page_layout)
  int stages = 0;                   // register-fragment kernel's pipeline depth (0: by rule)
  bool pad = false;                 // register-fragment kernel: padded 4-bit rows (pad_frag_rows)
};

double run_quant_case(const QuantCase& c) {
  const int n_head = static_cast<int>(c.head_group.size()), n_seq = static_cast<int>(c.lens.size());
  // Segment-major caches get a capacity that keeps every segment region 16-byte aligned (block
  // copies); token rows keep an odd one.
  int cap = *std::max_element(c.lens.begin(), c.lens.end()) + 3;
  if (c.seg_major) cap = (cap + 15) / 16 * 16;
  auto kc = RowCodec::create(c.kf, c.k_lens);
  auto vc = RowCodec::create(c.vf, c.v_lens);
  EXPECT_TRUE(kc.ok() && vc.ok());
  if (!kc.ok() || !vc.ok()) return 1.0;
  std::vector<int> qk_off(n_head), z_off(n_head);
  int ldqk = 0, ldz = 0;
  for (int h = 0; h < n_head; ++h) {
    qk_off[h] = ldqk;
    ldqk += kc->segments[c.head_group[h]].len;
    z_off[h] = ldz;
    ldz += vc->segments[c.head_group[h]].len;
  }
  // Token rows, CPU-encoded; rows past each sequence's end 0xFF.
  auto encode = [&](const RowCodec& codec, uint32_t seed) {
    std::vector<uint8_t> rows(size_t(n_seq) * cap * codec.row_bytes, 0xFF);
    for (int b = 0; b < n_seq; ++b) {
      const auto x = special_rows(c.lens[b], codec.width, seed + b);
      for (int j = 0; j < c.lens[b]; ++j) {
        std::vector<float> row(x.begin() + size_t(j) * codec.width, x.begin() + size_t(j + 1) * codec.width);
        if (j == 2) {
          for (float& v : row) v *= 1e-4f;  // keep the 'huge' row finite-ish in the softmax
        }
        encode_row(codec, row.data(), rows.data() + (size_t(b) * cap + j) * codec.row_bytes);
      }
    }
    return rows;
  };
  const auto krows = encode(*kc, 100), vrows = encode(*vc, 200);
  // Device layout.
  auto layout = [&](const RowCodec& codec, const std::vector<uint8_t>& rows, std::vector<uint8_t>* dev,
                    std::vector<int64_t>* seg_off, int64_t* stride) {
    const int G = static_cast<int>(codec.segments.size());
    seg_off->resize(G);
    if (!c.seg_major) {
      *dev = rows;
      *stride = codec.row_bytes;
      for (int g = 0; g < G; ++g) (*seg_off)[g] = codec.segments[g].byte;
      return;
    }
    const int64_t sb = segment_bytes(codec.format, codec.segments[0].len);
    *stride = sb;
    dev->assign(rows.size(), 0xFF);
    for (int g = 0; g < G; ++g) {
      (*seg_off)[g] = int64_t{g} * cap * sb;
      for (int b = 0; b < n_seq; ++b) {
        for (int j = 0; j < cap; ++j) {
          std::memcpy(dev->data() + size_t(b) * cap * codec.row_bytes + (*seg_off)[g] + size_t(j) * sb,
                      rows.data() + (size_t(b) * cap + j) * codec.row_bytes + codec.segments[g].byte, sb);
        }
      }
    }
  };
  std::vector<uint8_t> kdev, vdev;
  std::vector<int64_t> kseg, vseg;
  int64_t kstride = 0, vstride = 0;
  layout(*kc, krows, &kdev, &kseg, &kstride);
  layout(*vc, vrows, &vdev, &vseg, &vstride);
  std::vector<int64_t> k_byte(n_head), v_byte(n_head);
  std::vector<int> k_len(n_head), v_len(n_head);
  for (int h = 0; h < n_head; ++h) {
    k_byte[h] = kseg[c.head_group[h]];
    v_byte[h] = vseg[c.head_group[h]];
    k_len[h] = kc->segments[c.head_group[h]].len;
    v_len[h] = vc->segments[c.head_group[h]].len;
  }
  auto q = test::randn(size_t(n_seq) * c.n_q * ldqk, 13, 0.5f);
  std::vector<int> pos(size_t(n_seq) * c.n_q);
  for (int b = 0; b < n_seq; ++b) {
    for (int t = 0; t < c.n_q; ++t) pos[b * c.n_q + t] = std::max(0, c.lens[b] - c.n_q + t);
  }
  auto dq = DeviceBuffer::from_host(q), dk = DeviceBuffer::from_host(kdev), dv = DeviceBuffer::from_host(vdev);
  auto dpos = DeviceBuffer::from_host(pos);
  auto dz = DeviceBuffer::create(size_t(n_seq) * c.n_q * ldz * sizeof(float));
  EXPECT_TRUE(dq.ok() && dk.ok() && dv.ok() && dpos.ok() && dz.ok());
  if (!(dq.ok() && dk.ok() && dv.ok() && dpos.ok() && dz.ok())) return 1.0;
  EXPECT_TRUE(dz->fill_bytes(0xFF).ok());
  cuda::QuantLatentAttentionBatch b;
  b.n_q = c.n_q;
  b.q_pos = dpos->as<int>();
  b.n_head = n_head;
  b.qk = dq->as<float>();
  b.ldqk = ldqk;
  b.qk_seq = int64_t{c.n_q} * ldqk;
  b.qk_off = qk_off.data();
  b.k = cuda::QuantRows{dk->data(), kstride, int64_t{cap} * kc->row_bytes, c.kf, k_byte.data(), k_len.data()};
  b.v = cuda::QuantRows{dv->data(), vstride, int64_t{cap} * vc->row_bytes, c.vf, v_byte.data(), v_len.data()};
  b.z = dz->as<float>();
  b.ldz = ldz;
  b.z_seq = int64_t{c.n_q} * ldz;
  b.z_off = z_off.data();
  b.scale = 0.3f;
  b.n_seq = n_seq;
  b.max_kv = cap;
  b.kernel = c.kernel;
  b.stages = c.stages;
  b.pad_frag_rows = c.pad;
  DeviceBuffer pk, pv, tables;  // paged copies of both sides and their block tables
  if (c.block > 0) {
    const RowCodec* codecs[2] = {&*kc, &*vc};
    const std::vector<uint8_t>* devs[2] = {&kdev, &vdev};
    const int64_t strides[2] = {kstride, vstride};
    std::vector<int64_t>* bytes[2] = {&k_byte, &v_byte};
    cuda::QuantRows* sides[2] = {&b.k, &b.v};
    DeviceBuffer* bufs[2] = {&pk, &pv};
    test::PagedCopy paged[2];
    for (int i = 0; i < 2; ++i) {
      const int G = static_cast<int>(codecs[i]->segments.size());
      const int regions = c.seg_major ? G : 1;
      const int64_t region_bytes = c.seg_major ? int64_t{cap} * strides[i] : 0;
      paged[i] = test::page_layout(*devs[i], n_seq, cap, regions, int64_t{cap} * codecs[i]->row_bytes, region_bytes,
                                   strides[i], c.block, 31);
      if (c.seg_major) {  // segment g's region moves to g * storage rows * stride
        for (int h = 0; h < n_head; ++h) (*bytes[i])[h] = int64_t{c.head_group[h]} * paged[i].storage_rows * strides[i];
      }
      auto d = DeviceBuffer::from_host(paged[i].bytes);
      EXPECT_TRUE(d.ok());
      if (!d.ok()) return 1.0;
      *bufs[i] = std::move(*d);
      sides[i]->rows = bufs[i]->data();
      sides[i]->seq_bytes = 0;
    }
    auto t = DeviceBuffer::from_host(paged[0].tables);
    EXPECT_TRUE(t.ok());
    if (!t.ok()) return 1.0;
    tables = std::move(*t);
    b.maps = SeqRowMaps{tables.as<int32_t>(), paged[0].ld, paged[0].shift};
  }
  auto ws_bytes = cuda::quant_latent_attention_workspace_bytes(b);
  EXPECT_TRUE(ws_bytes.ok()) << ws_bytes.status().to_string();
  if (!ws_bytes.ok()) return 1.0;
  auto ws = DeviceBuffer::create(std::max<size_t>(*ws_bytes, 16));
  b.workspace = ws->data();
  b.workspace_bytes = ws->bytes();
  const Status st = cuda::quant_latent_attention(b, nullptr);
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_TRUE(cuda::cuda_status(cudaDeviceSynchronize(), "sync").ok());
  std::vector<float> z(size_t(n_seq) * c.n_q * ldz), z_ref(z.size());
  EXPECT_TRUE(dz->download(z.data(), z.size() * sizeof(float)).ok());
  for (int s = 0; s < n_seq; ++s) {
    QuantAttentionParams r;
    r.n_q = c.n_q;
    r.q_pos = pos.data() + s * c.n_q;
    r.n_head = n_head;
    r.qk = q.data() + b.qk_seq * s;
    r.ldqk = ldqk;
    r.qk_off = qk_off.data();
    r.k = {krows.data() + size_t(s) * cap * kc->row_bytes, kc->row_bytes, &*kc, DType::kF32, c.head_group.data()};
    r.v = {vrows.data() + size_t(s) * cap * vc->row_bytes, vc->row_bytes, &*vc, DType::kF32, c.head_group.data()};
    r.z = z_ref.data() + b.z_seq * s;
    r.ldz = ldz;
    r.z_off = z_off.data();
    r.scale = 0.3f;
    ref::quant_attention(r);
  }
  const auto e = rel_err(z, z_ref);
  EXPECT_EQ(e.non_finite, 0u) << c.name;
  EXPECT_LT(e.rel, 2e-3) << c.name << " K " << c.kf.name() << " V " << c.vf.name() << ": " << test::describe(e, z, z_ref);
  std::printf("[quant latent %s K %s V %s n_q=%d%s%s%s stages=%d] rel err %.2e\n", c.name, c.kf.name().c_str(),
              c.vf.name().c_str(), c.n_q, c.seg_major ? " seg-major" : "",
              c.kernel == cuda::AttentionKernel::kPrefill ? " decoded+prefill" : "", c.block > 0 ? " paged" : "",
              c.stages, e.rel);
  return e.rel;
}

std::vector<int> mixed_groups() { return {0, 0, 0, 1, 2, 2, 2}; }
std::vector<int> gqa_groups(int n_head, int per) {
  std::vector<int> g(n_head);
  for (int h = 0; h < n_head; ++h) g[h] = h / per;
  return g;
}

TEST(CudaQuantLatentAttention, MatchesReferenceOnAwkwardShapes) {
  LRKV_REQUIRE_CUDA();
  const QuantScheme A = QuantScheme::kAffine, S = QuantScheme::kSymmetric;
  const std::vector<std::pair<QuantFormat, QuantFormat>> formats = {
      {fmt_of(A, 4, 32), fmt_of(A, 4, 32)}, {fmt_of(A, 8, 32), fmt_of(S, 8, 32)}, {fmt_of(A, 3, 20), fmt_of(A, 2, 0)},
      {fmt_of(S, 4, 16), fmt_of(A, 2, 32)}, {fmt_of(A, 5, 7), fmt_of(S, 3, 0)},   {fmt_of(A, 1, 32), fmt_of(A, 8, 0)},
      // one format on both sides: the register-fragment kernel (2/4/8 bits, groups 0 or 16k)
      {fmt_of(A, 8, 32), fmt_of(A, 8, 32)}, {fmt_of(S, 2, 32), fmt_of(S, 2, 32)}, {fmt_of(A, 2, 0), fmt_of(A, 2, 0)},
      {fmt_of(S, 4, 16), fmt_of(S, 4, 16)}, {fmt_of(S, 8, 0), fmt_of(S, 8, 0)}};
  for (const auto& [kf, vf] : formats) {
    for (int n_q : {1, 5}) {
      run_quant_case({"mixed", {40, 64, 120}, {24, 72, 33}, mixed_groups(), kf, vf, {5, 77, 1000, 2099}, n_q, false});
    }
  }
  for (const auto& [kf, vf] : formats) {
    for (int n_q : {1, 4}) {
      run_quant_case({"gqa-64", {64, 64}, {64, 64}, gqa_groups(8, 4), kf, vf, {3, 700, 9000}, n_q, true});
    }
  }
  run_quant_case({"gqa-64-rows", {64, 64}, {64, 64}, gqa_groups(8, 4), fmt_of(A, 4, 32), fmt_of(A, 4, 32),
                  {1, 4000}, 1, false});
  run_quant_case({"per-head-38", {38, 38, 38, 38}, {38, 38, 38, 38}, gqa_groups(4, 1), fmt_of(A, 4, 32),
                  fmt_of(A, 4, 32), {65, 3000}, 1, true});
  for (const auto& [kf, vf] : formats) {
    if (kf.bits == vf.bits && kf.group == vf.group && kf.scheme == vf.scheme) {
      run_quant_case({"per-head-38", {38, 38, 38, 38}, {38, 38, 38, 38}, gqa_groups(4, 1), kf, vf, {65, 3000}, 1,
                      true});
      run_quant_case({"per-head-100", {100, 100}, {100, 100}, gqa_groups(2, 1), kf, vf, {130, 2500}, 2, true});
    }
  }
  run_quant_case({"joint-20-heads", {200}, {256}, std::vector<int>(20, 0), fmt_of(A, 4, 32), fmt_of(A, 8, 32),
                  {9, 1500}, 1, true});
  run_quant_case({"joint-20-heads", {200}, {256}, std::vector<int>(20, 0), fmt_of(S, 2, 32), fmt_of(A, 3, 32),
                  {9, 1500}, 3, false});
  run_quant_case({"per-head-128", {128, 128}, {128, 128}, gqa_groups(2, 1), fmt_of(A, 4, 32), fmt_of(A, 4, 32),
                  {2, 20000}, 1, true});
}

// The register-fragment kernel at every pipeline depth (4 by default, QuantLatentAttentionBatch::
// stages or LRKV_QUANT_FRAG_STAGES forces any), token rows and segment-major, R = 64 and 128.
TEST(CudaQuantLatentAttention, FragmentKernelAtEveryDepth) {
  LRKV_REQUIRE_CUDA();
  const QuantScheme A = QuantScheme::kAffine, S = QuantScheme::kSymmetric;
  const auto split_k = cuda::AttentionKernel::kSplitK;
  for (int st : {2, 3, 4}) {
    for (const QuantFormat f : {fmt_of(A, 4, 32), fmt_of(S, 2, 32), fmt_of(A, 8, 0)}) {
      run_quant_case({"gqa-64", {64, 64}, {64, 64}, gqa_groups(8, 4), f, f, {3, 700, 9000}, 1, true, split_k, 0, st});
      run_quant_case({"mixed", {40, 64, 120}, {24, 72, 33}, mixed_groups(), f, f, {5, 77, 1000, 2099}, 5, false,
                      split_k, 0, st});
      run_quant_case({"per-head-128", {128, 128}, {128, 128}, gqa_groups(2, 1), f, f, {2, 20000}, 1, true, split_k, 0,
                      st});
    }
    // 4-bit rows at padded strides: segment-major (block copies become row copies), token rows,
    // paged.
    const QuantFormat f4 = fmt_of(A, 4, 32);
    run_quant_case({"gqa-64 padded", {64, 64}, {64, 64}, gqa_groups(8, 4), f4, f4, {3, 700, 9000}, 1, true, split_k, 0,
                    st, true});
    run_quant_case({"mixed padded", {40, 64, 120}, {24, 72, 33}, mixed_groups(), f4, f4, {5, 77, 1000, 2099}, 5, false,
                    split_k, 0, st, true});
    run_quant_case({"gqa-64 padded", {64, 64}, {64, 64}, gqa_groups(8, 4), f4, f4, {3, 700, 900}, 1, false, split_k, 16,
                    st, true});
  }
}

// Prefill chunks decoded to f16 rows then the f16 prefill kernel (forced on every shape; kAuto
// takes it for long chunks): every code width and layout the decoder reads, against fp64.
TEST(CudaQuantLatentAttention, DecodedPrefillMatchesReference) {
  LRKV_REQUIRE_CUDA();
  const QuantScheme A = QuantScheme::kAffine, S = QuantScheme::kSymmetric;
  const auto P = cuda::AttentionKernel::kPrefill;
  const std::vector<std::pair<QuantFormat, QuantFormat>> formats = {
      {fmt_of(A, 4, 32), fmt_of(A, 4, 32)}, {fmt_of(A, 3, 20), fmt_of(A, 2, 0)}, {fmt_of(S, 4, 16), fmt_of(A, 8, 32)},
      {fmt_of(A, 5, 7), fmt_of(S, 3, 0)},   {fmt_of(A, 1, 32), fmt_of(S, 2, 32)}};
  for (const auto& [kf, vf] : formats) {
    run_quant_case({"mixed", {40, 64, 120}, {24, 72, 33}, mixed_groups(), kf, vf, {70, 300, 2}, 70, false, P});
    run_quant_case({"gqa-64", {64, 64}, {64, 64}, gqa_groups(8, 4), kf, vf, {90, 500}, 33, true, P});
  }
  run_quant_case({"joint-20-heads", {200}, {256}, std::vector<int>(20, 0), fmt_of(A, 4, 32), fmt_of(A, 8, 32),
                  {9, 150}, 9, false, P});
  run_quant_case({"per-head-38", {38, 38, 38, 38}, {38, 38, 38, 38}, gqa_groups(4, 1), fmt_of(A, 4, 32),
                  fmt_of(A, 4, 32), {65, 300}, 1, true, P});
}

// Paged caches (blocks of 16 and 64 rows, shuffled): the fused kernels (register-fragment for
// equal 64-value segments, shared-memory decode otherwise) and the decoded prefill read rows
// through the block table, both layouts, against fp64.
TEST(CudaQuantLatentAttention, PagedCachesMatchReference) {
  LRKV_REQUIRE_CUDA();
  const QuantScheme A = QuantScheme::kAffine, S = QuantScheme::kSymmetric;
  for (auto kernel : {cuda::AttentionKernel::kSplitK, cuda::AttentionKernel::kPrefill}) {
    for (int block : {16, 64}) {
      run_quant_case({"gqa-64", {64, 64}, {64, 64}, gqa_groups(8, 4), fmt_of(A, 4, 32), fmt_of(A, 4, 32),
                      {90, 1700}, 1, true, kernel, block});
      run_quant_case({"gqa-64", {64, 64}, {64, 64}, gqa_groups(8, 4), fmt_of(S, 8, 32), fmt_of(A, 2, 0),
                      {300, 1100}, 33, true, kernel, block});
      run_quant_case({"mixed", {40, 64, 120}, {24, 72, 33}, mixed_groups(), fmt_of(A, 3, 20), fmt_of(A, 4, 32),
                      {70, 900, 2}, 5, false, kernel, block});
    }
  }
}

// CudaEngine (quantized latents, absorbed keys) against the CPU Engine on the same quantized
// latent cache format. Base weights bf16 on both sides (the GPU GEMMs are f32-faithful), factors
// f32, so the latents agree to ~1e-6; but the GPU dequantises into fp16 tiles, and a latent that
// lies within ~1e-6 of a rounding edge gets the neighbouring code (one whole quantisation step:
// max|x|/3 for symmetric 3-bit over a whole slice). So the GPU is judged against the size of the
// quantisation's own effect, measured in the same run (CPU quantized vs CPU f32 cache).
// The engine's default factors (bf16, CPU engine rounded alike) run too, for int8 and int4: their
// prompt latents come from GEMMs whose f32 inputs are split into bf16 hi + lo halves (2^-16
// relative), not from f32 factors, so edges are hit more often; one hit with 3-bit whole-slice
// codes moves a latent by a third of its range, which is why int3 runs with f32 factors only.
struct QuantEngineErrors {
  double gpu_vs_cpu = 0.0;    // worst logits row: GPU quantized vs CPU quantized
  double quant_effect = 0.0;  // worst logits row: CPU quantized vs CPU f32 cache
};

QuantEngineErrors compare_quant_engines(const Model& m, const char* name, int bits, int group, bool sym,
                                        bool f32_factors) {
  QuantEngineErrors err{INFINITY, 0.0};
  CpuEngine cpu(m, f32_factors ? DType::kF32 : DType::kBF16);  // the GPU's factor values
  EXPECT_TRUE(cpu.status().ok()) << cpu.status().to_string();
  cuda::CudaEngineOptions opt;
  opt.f32_factors = f32_factors;
  auto gpu = cuda::CudaEngine::create(m, opt);
  EXPECT_TRUE(gpu.ok()) << gpu.status().to_string();
  if (!gpu.ok()) return err;
  const int cap = 80, V = m.config.n_vocab;
  KvCacheSpec spec;
  spec.latent.bits = bits;
  spec.latent.group = group;
  spec.latent.symmetric = sym;
  auto cache = cpu.make_cache(2, cap, spec);
  auto fcache = cpu.make_cache(2, cap, KvCacheSpec(DType::kF32));
  EXPECT_TRUE(cache.ok() && fcache.ok()) << cache.status().to_string();
  if (!cache.ok() || !fcache.ok()) return err;
  auto gcache = (*gpu)->make_cache(2, cap, spec);
  EXPECT_TRUE(gcache.ok()) << gcache.status().to_string();
  if (!gcache.ok()) return err;
  auto tokens = [&](int n, int seed) { return test::tokens(n, seed, V); };
  const auto a = tokens(37, 1), b = tokens(20, 2);
  err.gpu_vs_cpu = 0.0;
  auto step = [&](const std::vector<SeqSpan>& spans, LogitsMode mode) {
    std::vector<float> lc, lg, lf;
    const Status sc = cpu.forward(spans, **cache, mode, &lc);
    const Status sf = cpu.forward(spans, **fcache, mode, &lf);
    const Status sg = (*gpu)->forward(spans, **gcache, mode, &lg);
    EXPECT_TRUE(sc.ok() && sg.ok() && sf.ok()) << sc.to_string() << " / " << sg.to_string();
    err.gpu_vs_cpu = std::max(err.gpu_vs_cpu, test::worst_row_error(lg, lc, V));
    err.quant_effect = std::max(err.quant_effect, test::worst_row_error(lc, lf, V));
  };
  step({SeqSpan{0, a.data(), 37}, SeqSpan{1, b.data(), 20}}, LogitsMode::kAll);
  for (int i = 0; i < 4; ++i) {
    const auto n0 = tokens(1, 10 + i), n1 = tokens(1, 20 + i);
    step({SeqSpan{0, n0.data(), 1}, SeqSpan{1, n1.data(), 1}}, LogitsMode::kLast);
  }
  const auto c = tokens(5, 3);
  step({SeqSpan{1, c.data(), 5}}, LogitsMode::kLast);
  std::printf("[engine quant %s int%d %s g%d, %s factors] worst logits row error GPU vs CPU %.2e, quantisation's "
              "own effect %.2e (cache %lld bytes)\n",
              name, bits, sym ? "sym" : "asym", group, f32_factors ? "f32" : "bf16", err.gpu_vs_cpu, err.quant_effect,
              static_cast<long long>((*gcache)->allocated_bytes()));
  return err;
}

TEST(CudaEngineQuant, QuantizedLatentsMatchCpuEngine) {
  LRKV_REQUIRE_CUDA();
  LlamaConfig cfg = test::tiny_config(2, 8, 4, 64);
  cfg.d_model = 256;
  cfg.d_ff = 384;
  cfg.n_vocab = 512;
  cfg.max_seq = 256;
  cfg.rope_layout = RopeLayout::kHalfSplit;
  for (const char* gran : {"head", "group:2"}) {
    test::LatentModelOptions o;
    o.method = "mkv-pca";
    o.granularity = gran;
    Model factors = test::make_latent_test_model(cfg, o);
    auto base = make_random_model(cfg, o.seed, DType::kBF16);
    ASSERT_TRUE(base.ok());
    base->extra_tensors = std::move(factors.extra_tensors);
    base->extra_metadata = std::move(factors.extra_metadata);
    base->compression = std::move(factors.compression);
    for (const bool f32 : {true, false}) {
      // int8: code flips are negligible, the difference is the fp16 tiles (as for the f16 cache).
      EXPECT_LT(compare_quant_engines(*base, gran, 8, 32, false, f32).gpu_vs_cpu, 1e-2);
      // Coarse codes: the GPU must sit well inside the quantisation's own perturbation.
      for (const auto& [bits, group, sym] : {std::tuple{4, 32, false}, std::tuple{3, 0, true}}) {
        if (!f32 && bits == 3) continue;  // see above
        const QuantEngineErrors e = compare_quant_engines(*base, gran, bits, group, sym, f32);
        EXPECT_LT(e.gpu_vs_cpu, 0.25 * e.quant_effect) << gran << " int" << bits << (f32 ? " f32" : " bf16");
        EXPECT_LT(e.gpu_vs_cpu, 5e-2) << gran << " int" << bits << (f32 ? " f32" : " bf16");
      }
    }
  }
}

TEST(CudaEngineQuant, RebuildKeysAreRejected) {
  LRKV_REQUIRE_CUDA();
  LlamaConfig cfg = test::tiny_config(2, 8, 4, 64);
  cfg.d_model = 256;
  cfg.d_ff = 384;
  cfg.n_vocab = 512;
  test::LatentModelOptions o;
  o.method = "palu";
  Model m = test::make_latent_test_model(cfg, o);
  auto gpu = cuda::CudaEngine::create(m);
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  KvCacheSpec spec;
  spec.latent.bits = 4;
  EXPECT_EQ((*gpu)->make_cache(1, 16, spec).status().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace lrkv

#endif  // LRKV_HAVE_CUDA
