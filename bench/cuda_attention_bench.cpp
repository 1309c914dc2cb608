// Decode attention on the GPU, one layer, random data: the full f16 cache (our split-K
// flash-decoding) against compressed caches at 50% budget (absorbed latents, per-head and
// group:4; rebuild-keys per head), Llama-2-7B (32x128 MHA) and Llama-3-8B (32/8 GQA) shapes,
// contexts 4K..128K, batches 1 and 16; and quantized absorbed latents (50% rank + 4-bit / 8-bit,
// 30% rank + 4-bit, kernels/cuda/quant_latent_attention.h). Reports the median time of a call, bytes moved (cache
// read once + queries + outputs), achieved GB/s and its fraction of the device copy bandwidth
// measured in the same run. Caches smaller than 1 GiB rotate among copies so L2 cannot serve them.
// Run: cuda_attention_bench [--contexts 4096,...] [--batches 1,16] [--csv out.csv]
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/fill.h"
#include "kernels/cuda/latent_attention.h"
#include "kernels/cuda/quant_latent_attention.h"
#include "kernels/cuda/rebuild_attention.h"

namespace lrkv::bench {
namespace {

using cuda::DeviceBuffer;

#define BENCH_CHECK(expr)                                                          \
  do {                                                                             \
    const ::lrkv::Status s_ = (expr);                                              \
    if (!s_.ok()) {                                                                \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, s_.to_string().c_str()); \
      std::exit(1);                                                                \
    }                                                                              \
  } while (0)
#define BENCH_CUDA(expr) BENCH_CHECK(::lrkv::cuda::cuda_status((expr), #expr))

DeviceBuffer alloc(size_t bytes) {
  auto b = DeviceBuffer::create(bytes);
  BENCH_CHECK(b.status());
  return std::move(b).value();
}

DeviceBuffer random_buffer(size_t n, cuda::FillType t, uint64_t seed, float scale = 1.0f) {
  const size_t elem = t == cuda::FillType::kF32 ? 4 : 2;
  DeviceBuffer b = alloc(n * elem);
  BENCH_CUDA(cuda::fill_uniform(b.data(), t, static_cast<int64_t>(n), seed, scale, nullptr));
  return b;
}

// Median milliseconds of op(copy) over `iters` calls (after 3 warm-ups), copies rotating.
double time_ms(const std::function<Status(int)>& op, int copies, int iters) {
  for (int i = 0; i < 3; ++i) BENCH_CHECK(op(i % copies));
  std::vector<cudaEvent_t> ev(2 * iters);
  for (auto& e : ev) BENCH_CUDA(cudaEventCreate(&e));
  for (int i = 0; i < iters; ++i) {
    BENCH_CUDA(cudaEventRecord(ev[2 * i]));
    BENCH_CHECK(op(i % copies));
    BENCH_CUDA(cudaEventRecord(ev[2 * i + 1]));
  }
  BENCH_CUDA(cudaDeviceSynchronize());
  std::vector<double> ms(iters);
  for (int i = 0; i < iters; ++i) {
    float m = 0;
    BENCH_CUDA(cudaEventElapsedTime(&m, ev[2 * i], ev[2 * i + 1]));
    ms[i] = m;
  }
  for (auto& e : ev) cudaEventDestroy(e);
  std::nth_element(ms.begin(), ms.begin() + iters / 2, ms.end());
  return ms[iters / 2];
}

// Device-to-device copy bandwidth, bytes read + written per second (median of 10).
double copy_bandwidth() {
  const size_t bytes = size_t{2} << 30;
  DeviceBuffer a = random_buffer(bytes / 2, cuda::FillType::kF16, 1), b = alloc(bytes);
  const double ms = time_ms(
      [&](int) { return cuda::cuda_status(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice), "copy"); },
      1, 10);
  return 2.0 * bytes / (ms * 1e-3);
}

double read_bandwidth() {
  const size_t bytes = size_t{4} << 30;
  DeviceBuffer a = random_buffer(bytes / 2, cuda::FillType::kF16, 2), sink = alloc(4);
  const double ms = time_ms([&](int) { return cuda::cuda_status(cuda::read_probe(a.data(), bytes, sink.as<float>(), nullptr), "read"); }, 1, 10);
  return bytes / (ms * 1e-3);
}

struct Shape {
  std::string name;
  int n_head, n_kv_head, head_dim;
};

struct Row {
  std::string model, variant, note;
  int batch, ctx;
  double us, bytes, gbps, frac;
};

struct Context {
  Shape s;
  int batch, ctx, iters;
  double copy_bw;
  std::vector<Row>* rows;
};

// Copies of a cache of `bytes` needed so that rotating among them exceeds 1 GiB (max 16).
int copies_for(double bytes) { return std::clamp(static_cast<int>(std::ceil((1 << 30) / bytes)), 1, 16); }

void record(const Context& c, const std::string& variant, double ms, double bytes, const std::string& note = "") {
  Row r{c.s.name, variant, note, c.batch, c.ctx, ms * 1e3, bytes, bytes / (ms * 1e-3) / 1e9, 0};
  r.frac = r.gbps * 1e9 / c.copy_bw;
  std::printf("%-10s b=%-2d ctx=%-6d %-16s %9.1f us %9.1f MB %7.0f GB/s %5.1f%% of copy %s\n", r.model.c_str(),
              r.batch, r.ctx, variant.c_str(), r.us, bytes / 1e6, r.gbps, 100 * r.frac, note.c_str());
  std::fflush(stdout);
  c.rows->push_back(r);
}

size_t count_non_finite(const DeviceBuffer& out, size_t n) {
  std::vector<float> h(n);
  BENCH_CHECK(out.download(h.data(), n * sizeof(float)));
  return std::count_if(h.begin(), h.end(), [](float x) { return !std::isfinite(x); });
}

DeviceBuffer positions(int batch, int ctx) {
  auto b = DeviceBuffer::from_host(std::vector<int>(batch, ctx - 1));
  BENCH_CHECK(b.status());
  return std::move(b).value();
}

// Full f16 cache. head_major: [kv head][token][head_dim] per sequence (the layout SDPA reads),
// run through the latent kernel with head_dim segments; else token rows [token][kv_dim] (the CPU
// cache layout) through cuda::attention. Same kernel either way.
void bench_dense(const Context& c, bool head_major) {
  const Shape& s = c.s;
  const int64_t qd = int64_t{s.n_head} * s.head_dim, kvd = int64_t{s.n_kv_head} * s.head_dim;
  const double cache = 2.0 * c.batch * c.ctx * kvd * 2;
  const int copies = copies_for(cache);
  const size_t n = size_t(copies) * c.batch * c.ctx * kvd;
  DeviceBuffer k = random_buffer(n, cuda::FillType::kF16, 3), v = random_buffer(n, cuda::FillType::kF16, 4);
  DeviceBuffer q = random_buffer(c.batch * qd, cuda::FillType::kF32, 5), out = alloc(c.batch * qd * 4);
  DeviceBuffer pos = positions(c.batch, c.ctx);
  const size_t per_copy = size_t(c.batch) * c.ctx * kvd * 2;
  const float scale = 1.0f / std::sqrt(float(s.head_dim));
  double ms = 0;
  if (head_major) {
    const int gs = s.n_head / s.n_kv_head;
    std::vector<int> q_off(s.n_head), kv_off(s.n_head), len(s.n_head, s.head_dim);
    for (int h = 0; h < s.n_head; ++h) {
      q_off[h] = h * s.head_dim;
      kv_off[h] = (h / gs) * s.head_dim * c.ctx;
    }
    cuda::LatentAttentionBatch b;
    LatentAttentionParams& p = b.p;
    p.n_q = 1;
    p.q_pos = pos.as<int>();
    p.n_head = s.n_head;
    p.qk = q.as<float>();
    p.ldqk = qd;
    p.qk_off = p.z_off = q_off.data();
    p.k = k.data();
    p.v = v.data();
    p.ldk = p.ldv = s.head_dim;
    p.k_type = p.v_type = DType::kF16;
    p.k_off = p.v_off = kv_off.data();
    p.k_len = p.v_len = len.data();
    p.z = out.as<float>();
    p.ldz = qd;
    p.scale = scale;
    b.n_seq = c.batch;
    b.qk_seq = b.z_seq = qd;
    b.k_seq = b.v_seq = int64_t{c.ctx} * kvd;
    b.max_kv = c.ctx;
    auto wsb = cuda::latent_attention_workspace_bytes(b);
    BENCH_CHECK(wsb.status());
    DeviceBuffer ws = alloc(std::max<size_t>(*wsb, 16));
    b.workspace = ws.data();
    b.workspace_bytes = ws.bytes();
    ms = time_ms(
        [&](int i) {
          cuda::LatentAttentionBatch bi = b;
          bi.p.k = k.as<char>() + i * per_copy;
          bi.p.v = v.as<char>() + i * per_copy;
          return cuda::latent_attention(bi, nullptr);
        },
        copies, c.iters);
  } else {
    cuda::AttentionBatch b;
    b.p = AttentionParams{q.as<float>(), qd,        pos.as<int>(),   1,           k.data(),     v.data(),
                          kvd,           DType::kF16, c.ctx,         s.n_head,    s.n_kv_head, s.head_dim,
                          scale,         out.as<float>(), qd};
    b.n_seq = c.batch;
    b.q_seq = b.out_seq = qd;
    b.kv_seq = int64_t{c.ctx} * kvd;
    b.max_kv = c.ctx;
    auto wsb = cuda::attention_workspace_bytes(b);
    BENCH_CHECK(wsb.status());
    DeviceBuffer ws = alloc(std::max<size_t>(*wsb, 16));
    b.workspace = ws.data();
    b.workspace_bytes = ws.bytes();
    ms = time_ms(
        [&](int i) {
          cuda::AttentionBatch bi = b;
          bi.p.k = k.as<char>() + i * per_copy;
          bi.p.v = v.as<char>() + i * per_copy;
          return cuda::attention(bi, nullptr);
        },
        copies, c.iters);
  }
  const size_t bad = count_non_finite(out, c.batch * qd);
  record(c, head_major ? "dense-f16" : "dense-f16-rows", ms, cache + 8.0 * c.batch * qd,
         bad ? "NON-FINITE OUTPUT" : "");
}

// Absorbed latents at 50%: groups of `s_grp` KV heads keep rank s_grp * head_dim / 2 for K and V.
// head_major: each group's latents of a sequence are contiguous ([group][token][rank], the GPU
// cache layout); else token rows of all groups ([token][group * rank], the CPU RowKvCache layout).
void bench_absorbed(const Context& c, int s_grp, bool head_major) {
  const Shape& s = c.s;
  const int gs = s.n_head / s.n_kv_head, rank = s_grp * s.head_dim / 2, n_groups = s.n_kv_head / s_grp;
  const int width = n_groups * rank;  // per token, K and V each
  std::vector<int> qk_off(s.n_head), k_off(s.n_head), len(s.n_head, rank);
  for (int h = 0; h < s.n_head; ++h) {
    qk_off[h] = h * rank;
    k_off[h] = (h / gs / s_grp) * rank * (head_major ? c.ctx : 1);
  }
  const double cache = 2.0 * c.batch * c.ctx * width * 2;
  const int copies = copies_for(cache);
  const size_t n = size_t(copies) * c.batch * c.ctx * width, per_copy = size_t(c.batch) * c.ctx * width * 2;
  DeviceBuffer k = random_buffer(n, cuda::FillType::kF16, 6), v = random_buffer(n, cuda::FillType::kF16, 7);
  const int64_t qw = int64_t{s.n_head} * rank;
  DeviceBuffer q = random_buffer(c.batch * qw, cuda::FillType::kF32, 8), z = alloc(c.batch * qw * 4);
  DeviceBuffer pos = positions(c.batch, c.ctx);
  cuda::LatentAttentionBatch b;
  LatentAttentionParams& p = b.p;
  p.n_q = 1;
  p.q_pos = pos.as<int>();
  p.n_head = s.n_head;
  p.qk = q.as<float>();
  p.ldqk = qw;
  p.qk_off = qk_off.data();
  p.k_type = p.v_type = DType::kF16;
  p.ldk = p.ldv = head_major ? rank : width;
  p.k_off = p.v_off = k_off.data();
  p.k_len = p.v_len = len.data();
  p.z = z.as<float>();
  p.ldz = qw;
  p.z_off = qk_off.data();
  p.scale = 1.0f / std::sqrt(float(s.head_dim));
  b.n_seq = c.batch;
  b.qk_seq = b.z_seq = qw;
  b.k_seq = b.v_seq = int64_t{c.ctx} * width;
  b.max_kv = c.ctx;
  p.k = k.data();
  p.v = v.data();
  auto wsb = cuda::latent_attention_workspace_bytes(b);
  BENCH_CHECK(wsb.status());
  DeviceBuffer ws = alloc(std::max<size_t>(*wsb, 16));
  b.workspace = ws.data();
  b.workspace_bytes = ws.bytes();
  auto op = [&](int i) {
    cuda::LatentAttentionBatch bi = b;
    bi.p.k = k.as<char>() + i * per_copy;
    bi.p.v = v.as<char>() + i * per_copy;
    return cuda::latent_attention(bi, nullptr);
  };
  const double ms = time_ms(op, copies, c.iters);
  const size_t bad = count_non_finite(z, c.batch * qw);
  const std::string name = (s_grp == 1 ? "absorbed50-head" : "absorbed50-g" + std::to_string(s_grp)) +
                           (head_major ? "" : "-rows");
  record(c, name, ms, cache + 8.0 * c.batch * qw, bad ? "NON-FINITE OUTPUT" : "");
}

// Rebuild-keys at 50%, per-head groups: rank head_dim / 2 for key and value latents.
void bench_rebuild(const Context& c) {
  const Shape& s = c.s;
  const int gs = s.n_head / s.n_kv_head, hd = s.head_dim, rank = hd / 2, width = s.n_kv_head * rank;
  const double cache = 2.0 * c.batch * c.ctx * width * 2;
  const int copies = copies_for(cache);
  const size_t n = size_t(copies) * c.batch * c.ctx * width, per_copy = size_t(c.batch) * c.ctx * width * 2;
  DeviceBuffer cl = random_buffer(n, cuda::FillType::kF16, 9), v = random_buffer(n, cuda::FillType::kF16, 10);
  const int64_t qd = int64_t{s.n_head} * hd, zw = int64_t{s.n_head} * rank;
  DeviceBuffer q = random_buffer(c.batch * qd, cuda::FillType::kF32, 11), z = alloc(c.batch * zw * 4);
  DeviceBuffer up = random_buffer(size_t(s.n_kv_head) * hd * rank, cuda::FillType::kF32, 12, 0.2f);
  std::vector<float> inv(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv[i] = std::pow(10000.0f, -2.0f * i / hd);
  auto freq = DeviceBuffer::from_host(inv);
  BENCH_CHECK(freq.status());
  DeviceBuffer pos = positions(c.batch, c.ctx);
  std::vector<int> qk_off(s.n_head), v_off(s.n_head), v_len(s.n_head, rank), z_off(s.n_head);
  // Head-major latents: KV head g's rows of a sequence at g * ctx * rank, row stride rank.
  for (int h = 0; h < s.n_head; ++h) {
    qk_off[h] = h * hd;
    v_off[h] = (h / gs) * rank * c.ctx;
    z_off[h] = h * rank;
  }
  std::vector<int> g_rows(s.n_kv_head, hd), g_row_off(s.n_kv_head), g_lat(s.n_kv_head), g_rank(s.n_kv_head, rank);
  std::vector<const float*> ups(s.n_kv_head);
  for (int g = 0; g < s.n_kv_head; ++g) {
    g_row_off[g] = g * hd;
    g_lat[g] = g * rank * c.ctx;
    ups[g] = up.as<float>() + size_t(g) * hd * rank;
  }
  cuda::RebuildAttentionBatch b;
  LatentAttentionParams& a = b.att;
  a.n_q = 1;
  a.q_pos = pos.as<int>();
  a.n_head = s.n_head;
  a.qk = q.as<float>();
  a.ldqk = qd;
  a.qk_off = qk_off.data();
  a.v = v.data();
  a.ldv = rank;
  a.v_type = DType::kF16;
  a.v_off = v_off.data();
  a.v_len = v_len.data();
  a.z = z.as<float>();
  a.ldz = zw;
  a.z_off = z_off.data();
  a.scale = 1.0f / std::sqrt(float(hd));
  RebuildKeysParams& k = b.keys;
  k.c = cl.data();
  k.ldc = rank;
  k.c_type = DType::kF16;
  k.n_groups = s.n_kv_head;
  k.group_rows = g_rows.data();
  k.group_row_off = g_row_off.data();
  k.group_lat_off = g_lat.data();
  k.group_rank = g_rank.data();
  k.up = ups.data();
  k.head_dim = hd;
  k.inv_freq = freq->as<float>();
  k.layout = RopeLayout::kHalfSplit;
  b.n_kv_head = s.n_kv_head;
  b.n_seq = c.batch;
  b.q_seq = qd;
  b.z_seq = zw;
  b.c_seq = b.v_seq = int64_t{c.ctx} * width;
  b.max_kv = c.ctx;
  auto wsb = cuda::rebuild_attention_workspace_bytes(b);
  BENCH_CHECK(wsb.status());
  DeviceBuffer ws = alloc(std::max<size_t>(*wsb, 16));
  b.workspace = ws.data();
  b.workspace_bytes = ws.bytes();
  auto op = [&](int i) {
    cuda::RebuildAttentionBatch bi = b;
    bi.keys.c = cl.as<char>() + i * per_copy;
    bi.att.v = v.as<char>() + i * per_copy;
    return cuda::rebuild_attention(bi, nullptr);
  };
  const double ms = time_ms(op, copies, c.iters);
  const size_t bad = count_non_finite(z, c.batch * zw);
  record(c, "rebuild50-head", ms, cache + 4.0 * c.batch * (qd + zw), bad ? "NON-FINITE OUTPUT" : "");
}

// Quantized absorbed latents, per-KV-head groups of rank `rank` for K and V, `bits`-bit affine
// codes with an fp16 scale and minimum per 32 values (kernels/quant_row.h), segment-major
// ([group][token][segment bytes] per sequence, the CudaEngine layout for equal ranks). Bytes
// moved = codes + scales + minimums of K and V, + queries and outputs. The contents are real
// encodings (cuda::quant_encode_rows) of random f32 rows in [-1, 1): random bytes would put
// NaN/Inf patterns into the fp16 scales of segments at odd byte offsets.
void encode_random_cache(DeviceBuffer& dst, int copies, int batch, int ctx, int G, int rank, int64_t seg,
                         const QuantFormat& f, uint64_t seed) {
  constexpr int kChunk = 8192, kShift = 509;  // rows per encoder launch; source offsets rotate
  const int64_t width = int64_t{G} * rank;
  DeviceBuffer src = random_buffer(size_t(kChunk + kShift) * width, cuda::FillType::kF32, seed);
  std::vector<int> col(G), len(G, rank);
  std::vector<int64_t> sdst(G);
  for (int s = 0; s < G; ++s) {
    col[s] = s * rank;
    sdst[s] = int64_t{s} * ctx * seg;
  }
  const int64_t row = seg * G;
  int launch = 0;
  for (int cp = 0; cp < copies; ++cp) {
    for (int b = 0; b < batch; ++b) {
      for (int j0 = 0; j0 < ctx; j0 += kChunk, ++launch) {
        cuda::QuantEncodeParams p;
        p.src = src.as<float>() + int64_t{(launch * 131) % kShift} * width;
        p.ld_src = width;
        p.rows = std::min(kChunk, ctx - j0);
        p.format = f;
        p.n_segments = G;
        p.seg_col = col.data();
        p.seg_len = len.data();
        p.seg_dst = sdst.data();
        p.dst = dst.as<char>() + ((int64_t{cp} * batch + b) * ctx * row + int64_t{j0} * seg);
        p.row_bytes = seg;
        p.seq_bytes = 0;
        BENCH_CHECK(cuda::quant_encode_rows(p, nullptr));
      }
    }
  }
  BENCH_CUDA(cudaDeviceSynchronize());
}

void bench_quant(const Context& c, int rank, int bits) {
  const Shape& s = c.s;
  const int gs = s.n_head / s.n_kv_head, G = s.n_kv_head;
  const QuantFormat f{QuantScheme::kAffine, bits, 32};
  const int64_t seg = segment_bytes(f, rank), row = seg * G;
  const double cache = 2.0 * c.batch * c.ctx * row;
  const int copies = copies_for(cache);
  const size_t per_copy = size_t(c.batch) * c.ctx * row;
  DeviceBuffer k = alloc(size_t(copies) * per_copy), v = alloc(size_t(copies) * per_copy);
  encode_random_cache(k, copies, c.batch, c.ctx, G, rank, seg, f, 13);
  encode_random_cache(v, copies, c.batch, c.ctx, G, rank, seg, f, 14);
  const int64_t qw = int64_t{s.n_head} * rank;
  DeviceBuffer q = random_buffer(c.batch * qw, cuda::FillType::kF32, 15), z = alloc(c.batch * qw * 4);
  DeviceBuffer pos = positions(c.batch, c.ctx);
  std::vector<int> qk_off(s.n_head), len(s.n_head, rank);
  std::vector<int64_t> off(s.n_head);
  for (int h = 0; h < s.n_head; ++h) {
    qk_off[h] = h * rank;
    off[h] = int64_t{h / gs} * c.ctx * seg;
  }
  cuda::QuantLatentAttentionBatch b;
  b.n_q = 1;
  b.q_pos = pos.as<int>();
  b.n_head = s.n_head;
  b.qk = q.as<float>();
  b.ldqk = qw;
  b.qk_seq = qw;
  b.qk_off = qk_off.data();
  b.k = cuda::QuantRows{k.data(), seg, int64_t{c.ctx} * row, f, off.data(), len.data()};
  b.v = cuda::QuantRows{v.data(), seg, int64_t{c.ctx} * row, f, off.data(), len.data()};
  b.z = z.as<float>();
  b.ldz = qw;
  b.z_seq = qw;
  b.z_off = qk_off.data();
  b.scale = 1.0f / std::sqrt(float(s.head_dim));
  b.n_seq = c.batch;
  b.max_kv = c.ctx;
  auto wsb = cuda::quant_latent_attention_workspace_bytes(b);
  BENCH_CHECK(wsb.status());
  DeviceBuffer ws = alloc(std::max<size_t>(*wsb, 16));
  b.workspace = ws.data();
  b.workspace_bytes = ws.bytes();
  auto op = [&](int i) {
    cuda::QuantLatentAttentionBatch bi = b;
    bi.k.rows = k.as<char>() + i * per_copy;
    bi.v.rows = v.as<char>() + i * per_copy;
    return cuda::quant_latent_attention(bi, nullptr);
  };
  const double ms = time_ms(op, copies, c.iters);
  const size_t bad = count_non_finite(z, c.batch * qw);
  const int pct = static_cast<int>(std::lround(100.0 * rank / s.head_dim));
  record(c, "q" + std::to_string(bits) + "-" + std::to_string(pct) + "-head", ms, cache + 8.0 * c.batch * qw,
         bad ? "NON-FINITE OUTPUT" : "");
}

std::vector<int> parse_ints(const std::string& s) {
  std::vector<int> v;
  size_t i = 0;
  while (i < s.size()) {
    const size_t j = s.find(',', i);
    v.push_back(std::stoi(s.substr(i, j == std::string::npos ? std::string::npos : j - i)));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return v;
}

int run(int argc, char** argv) {
  CLI::App app{"CUDA decode attention: dense f16 cache vs 50% latent caches"};
  std::string contexts = "4096,8192,16384,32768,65536,131072", batches = "1,16", models = "llama2-7b,llama3-8b";
  std::string csv, variants = "dense,dense-rows,absorbed-head,absorbed-rows,absorbed-g4,rebuild,q4-50,q8-50,q4-30";
  int iters = 30;
  double max_gb = 40.0;
  app.add_option("--contexts", contexts);
  app.add_option("--batches", batches);
  app.add_option("--models", models);
  app.add_option("--iters", iters);
  app.add_option("--max-dense-gb", max_gb, "skip shapes whose dense cache exceeds this");
  app.add_option("--csv", csv);
  app.add_option("--variants", variants, "subset of dense,dense-rows,absorbed-head,absorbed-rows,absorbed-g4,rebuild,q4-50,q8-50,q4-30,q2-50");
  CLI11_PARSE(app, argc, argv);
  std::string why;
  if (!cuda::device_available(&why)) {
    std::fprintf(stderr, "no CUDA device: %s\n", why.c_str());
    return 2;
  }
  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  const double copy_bw = copy_bandwidth(), read_bw = read_bandwidth();
  std::printf("device %s, %d SMs, L2 %d MB; copy bandwidth %.0f GB/s (read+write), read probe %.0f GB/s\n",
              prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20, copy_bw / 1e9, read_bw / 1e9);
  std::vector<Shape> shapes;
  for (const std::string& m : {std::string("llama2-7b"), std::string("llama3-8b")}) {
    if (models.find(m) == std::string::npos) continue;
    shapes.push_back(m == "llama2-7b" ? Shape{m, 32, 32, 128} : Shape{m, 32, 8, 128});
  }
  std::vector<Row> rows;
  for (const Shape& s : shapes) {
    for (int batch : parse_ints(batches)) {
      for (int ctx : parse_ints(contexts)) {
        Context c{s, batch, ctx, iters, copy_bw, &rows};
        const double dense_gb = 4.0 * batch * ctx * s.n_kv_head * s.head_dim / 1e9;
        if (dense_gb > max_gb) {
          std::printf("%-10s b=%-2d ctx=%-6d skipped: dense cache %.1f GB > %.0f GB\n", s.name.c_str(), batch, ctx,
                      dense_gb, max_gb);
          continue;
        }
        auto want = [&](const char* v) { return ("," + variants + ",").find("," + std::string(v) + ",") != std::string::npos; };
        if (want("dense")) bench_dense(c, true);
        if (want("dense-rows")) bench_dense(c, false);
        if (want("absorbed-head")) bench_absorbed(c, 1, true);
        if (want("absorbed-rows")) bench_absorbed(c, 1, false);
        if (want("absorbed-g4")) bench_absorbed(c, 4, true);
        if (want("rebuild")) bench_rebuild(c);
        if (want("q4-50")) bench_quant(c, s.head_dim / 2, 4);
        if (want("q8-50")) bench_quant(c, s.head_dim / 2, 8);
        if (want("q4-30")) bench_quant(c, static_cast<int>(std::lround(0.3 * s.head_dim)), 4);
        if (want("q2-50")) bench_quant(c, s.head_dim / 2, 2);
      }
    }
  }
  if (!csv.empty()) {
    std::ofstream f(csv);
    f << "model,batch,ctx,variant,us,bytes,gbps,frac_copy,copy_gbps,read_gbps,note\n";
    for (const Row& r : rows) {
      f << r.model << ',' << r.batch << ',' << r.ctx << ',' << r.variant << ',' << r.us << ',' << r.bytes << ','
        << r.gbps << ',' << r.frac << ',' << copy_bw / 1e9 << ',' << read_bw / 1e9 << ',' << r.note << '\n';
    }
  }
  return 0;
}

}  // namespace
}  // namespace lrkv::bench

int main(int argc, char** argv) { return lrkv::bench::run(argc, argv); }
