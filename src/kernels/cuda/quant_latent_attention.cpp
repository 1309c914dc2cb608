#include "kernels/cuda/quant_latent_attention.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numbers>

#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/quant_attention_args.h"
#include "kernels/cuda/split_plan.h"

namespace lrkv::cuda {
namespace {

constexpr int kStages = 3;  // packed tiles are small: two in flight per CTA for the DRAM latency

constexpr int kFragStages = 4;  // register-fragment kernel: three 128-row packed tiles in flight
// kFragStages, or LRKV_QUANT_FRAG_STAGES=2|3|4 (A/B runs; fixed per process, as the occupancy
// cache below assumes). Four stages against three, b = 1 end to end on an H200: +2% at 32K (part
// 11), +1.2% at 4K and +2.2% at 32K (part 14); within 1% per kernel at 32K-128K.
int frag_stages() {
  static const int s = [] {
    const int v = env_int("LRKV_QUANT_FRAG_STAGES");
    return v >= 2 && v <= kFragMaxStages ? v : kFragStages;
  }();
  return s;
}
// LRKV_QUANT_FRAG_PAD=1 (A/B runs; measured slower on an H200, 0.72-0.98x per kernel at 32K-128K,
// bench/CUDA_NOTES.md part 14, so off): 4-bit rows of the register-fragment kernel
// land in shared memory at strides free of bank conflicts (QuantLatentAttentionBatch::pad_frag_rows).
bool frag_pad() {
  static const bool on = env_switch("LRKV_QUANT_FRAG_PAD", false);
  return on;
}

// quant_frag_kernel's tile rows for padded width R (kFragSlicesR * kTokenTile).
int frag_tile_rows(int R) { return (R == 64 ? 2 : 1) * kTokenTile; }

struct Plan {
  QuantAttentionArgs qa;
  int R = 0;
  size_t smem = 0;
  bool frag = false;  // quant_frag_kernel (decode into mma fragments) instead of the f16-tile kernel
  bool any = false;   // frag: rows not aligned for vector loads in shared memory
};

// The register-fragment kernel applies (quant_attention_args.h); LRKV_QUANT_FRAG=0 disables it.
bool frag_supported(int R, const QuantSide& k, const QuantSide& v) {
  static const bool enabled = env_switch("LRKV_QUANT_FRAG", true);
  if (!enabled || (R != 64 && R != 128)) return false;
  if (k.bits != v.bits || k.group != v.group || k.sym != v.sym) return false;
  if (k.bits != 2 && k.bits != 4 && k.bits != 8) return false;
  return k.group == 0 || k.group % 16 == 0;
}

// Whether every packed row in shared memory (and its header) sits at multiples of
// min(2 * bits, 8) bytes, as the frag kernel's vector loads need.
bool frag_aligned(const QuantSide& q, const SplitAttentionArgs& a, bool keys) {
  const int A = std::min(2 * q.bits, 8);
  if (q.raw_ld % A != 0) return false;
  for (int c = 0; c < a.n_clusters; ++c) {
    const int len = keys ? a.clusters[c].k_len : a.clusters[c].v_len;
    const int gs = q.group > 0 ? q.group : len;
    const int hdr = (len + gs - 1) / gs * (q.sym ? 2 : 4);
    if (hdr % A != 0) return false;
  }
  return true;
}

// Resident CTAs per SM, cached per kernel and shared-memory size (the query costs microseconds).
int cached_occupancy(int kernel, size_t smem, int (*query)(int, size_t)) {
  static std::mutex mu;
  static std::map<std::pair<int, size_t>, int> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find({kernel, smem});
  if (it != cache.end()) return it->second;
  const int n = query(kernel, smem);
  cache[{kernel, smem}] = n;
  return n;
}

bool scaled(const QuantFormat& f) { return f.scheme == QuantScheme::kAffine || f.scheme == QuantScheme::kSymmetric; }

Status check_side(const QuantRows& s, int n_head, const char* name) {
  LRKV_RETURN_IF_ERROR(s.format.validate());
  if (!scaled(s.format)) {
    return make_error(ErrorCode::kUnsupported, "CUDA quantized attention: {} as {} (affine or symmetric only)", name,
                      s.format.name());
  }
  if (!s.rows || !s.seg_byte || !s.seg_len || s.row_bytes <= 0 || s.seq_bytes < 0) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA quantized attention: {} rows not described", name);
  }
  for (int h = 0; h < n_head; ++h) {
    if (s.seg_len[h] < 1 || s.seg_len[h] > 256) {
      return make_error(ErrorCode::kUnsupported, "CUDA quantized attention: head {} {} segment of {} values (1..256)",
                        h, name, s.seg_len[h]);
    }
    if (s.seg_byte[h] < 0 || s.seg_byte[h] > 0x7fffffff) {
      return make_error(ErrorCode::kUnsupported, "CUDA quantized attention: head {} {} segment at byte {}", h, name,
                        s.seg_byte[h]);
    }
  }
  return Status::Ok();
}

int pow2_align(int64_t x) {
  if (x == 0) return 16;
  int a = 1;
  while (a < 16 && x % (2 * a) == 0) a *= 2;
  return a;
}

// Codec and tile copy strategy of one side, from the clusters' segments. pad_frag: rows copied one
// by one to the fragment kernel's conflict-free strides (quant_frag_pad_stride), even where one
// block would do.
QuantSide plan_side(const QuantRows& s, int n_seq, const SplitAttentionArgs& a, bool keys, bool pad_frag = false) {
  QuantSide q;
  q.bits = s.format.bits;
  q.group = s.format.group;
  q.sym = s.format.scheme == QuantScheme::kSymmetric;
  // Block copies start at tile rows j0 = 64i (64 * segment bytes: a multiple of 16), so they need
  // only the segment starts aligned; per-row copies need the row stride aligned too.
  int align = pow2_align(static_cast<int64_t>(reinterpret_cast<uintptr_t>(s.rows)));
  if (n_seq > 1) align = std::min(align, pow2_align(s.seq_bytes));
  bool consecutive = true;
  int max_seg = 0;
  for (int c = 0; c < a.n_clusters; ++c) {
    const ClusterDesc& cl = a.clusters[c];
    const int len = keys ? cl.k_len : cl.v_len, off = keys ? cl.k_off : cl.v_off;
    const int bytes = static_cast<int>(segment_bytes(s.format, len));
    max_seg = std::max(max_seg, bytes);
    consecutive = consecutive && bytes == s.row_bytes;
    align = std::min(align, pow2_align(off));
  }
  if (consecutive && align >= 16 && !a.maps.paged() && !pad_frag) {  // paged: a tile may cross blocks
    q.mode = kQLoadBlock16;
    q.raw_ld = max_seg;
  } else {
    align = std::min(align, pow2_align(s.row_bytes));
    q.mode = align >= 16 ? kQLoadRows16 : align >= 8 ? kQLoadRows8 : align >= 4 ? kQLoadRows4 : kQLoadBytes;
    q.raw_ld = pad_frag ? quant_frag_pad_stride(max_seg, keys) : (max_seg + 15) / 16 * 16;
  }
  q.stage_bytes = (kTokenTile * q.raw_ld + 16 + 15) / 16 * 16;
  return q;
}

Result<Plan> make_plan(const QuantLatentAttentionBatch& b) {
  if (b.n_q < 1 || b.n_head < 1 || b.n_seq < 1) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA quantized attention: n_q {}, n_head {}, n_seq {}", b.n_q,
                      b.n_head, b.n_seq);
  }
  if (!b.qk || !b.q_pos || !b.z || !b.qk_off || !b.z_off) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA quantized attention: null pointer in the parameters");
  }
  if (b.n_head > kMaxHeads) {
    return make_error(ErrorCode::kUnsupported, "CUDA quantized attention: {} heads (1..{})", b.n_head, kMaxHeads);
  }
  LRKV_RETURN_IF_ERROR(check_side(b.k, b.n_head, "key"));
  LRKV_RETURN_IF_ERROR(check_side(b.v, b.n_head, "value"));
  Plan plan;
  SplitAttentionArgs& a = plan.qa.a;
  std::vector<HeadSegments> heads(b.n_head);
  int width = 0;
  for (int h = 0; h < b.n_head; ++h) {
    heads[h] = HeadSegments{static_cast<int>(b.k.seg_byte[h]), b.k.seg_len[h], static_cast<int>(b.v.seg_byte[h]),
                            b.v.seg_len[h]};
    width = std::max({width, b.k.seg_len[h], b.v.seg_len[h]});
    a.qk_off[h] = b.qk_off[h];
    a.z_off[h] = b.z_off[h];
  }
  a.ldk = a.ldv = -1;  // byte strides: the 16-bit contiguity flags do not apply
  LRKV_RETURN_IF_ERROR(plan_clusters(heads, static_cast<int>(b.n_q), &a));
  a.k_contiguous = a.v_contiguous = 0;
  plan.R = padded_width(width);
  a.q = b.qk;
  a.ldq = b.ldqk;
  a.q_seq = b.qk_seq;
  a.q_pos = b.q_pos;
  a.qscale = b.scale * static_cast<float>(std::numbers::log2e);
  a.k = b.k.rows;
  a.ldk = b.k.row_bytes;
  a.k_seq = b.k.seq_bytes;
  a.v = b.v.rows;
  a.ldv = b.v.row_bytes;
  a.v_seq = b.v.seq_bytes;
  a.maps = b.maps;
  a.z = b.z;
  a.ldz = b.ldz;
  a.z_seq = b.z_seq;
  a.stages = kStages;
  a.early_rows = b.early_rows ? 1 : 0;  // the register-fragment kernel reads it
  plan.qa.k = plan_side(b.k, b.n_seq, a, true);
  plan.qa.v = plan_side(b.v, b.n_seq, a, false);
  plan.frag = frag_supported(plan.R, plan.qa.k, plan.qa.v);
  if (plan.frag && (b.pad_frag_rows || frag_pad()) && plan.qa.k.bits == 4) {
    plan.qa.k = plan_side(b.k, b.n_seq, a, true, /*pad_frag=*/true);
    plan.qa.v = plan_side(b.v, b.n_seq, a, false, /*pad_frag=*/true);
  }
  int occ = 1;
  if (plan.frag) {
    plan.any = !(frag_aligned(plan.qa.k, a, true) && frag_aligned(plan.qa.v, a, false));
    for (QuantSide* q : {&plan.qa.k, &plan.qa.v}) q->stage_bytes = (frag_tile_rows(plan.R) * q->raw_ld + 32 + 15) / 16 * 16;
    a.stages = b.stages != 0 ? b.stages : frag_stages();
    plan.smem = quant_frag_smem_bytes(plan.R, a.stages, plan.qa.k, plan.qa.v);
    if (plan.smem > quant_attention_smem_limit()) plan.frag = false;
  }
  if (plan.frag) {
    const int key = plan.R * 16 + plan.qa.k.bits * 2 + (plan.any ? 1 : 0);
    occ = cached_occupancy(key, plan.smem, [](int k, size_t smem) {
      return quant_frag_ctas_per_sm(k / 16, (k % 16) / 2, (k & 1) != 0, smem);
    });
  } else {
    plan.qa.k = plan_side(b.k, b.n_seq, a, true);
    plan.qa.v = plan_side(b.v, b.n_seq, a, false);
    a.stages = kStages;
    plan.smem = quant_attention_smem_bytes(plan.R, kStages, plan.qa.k, plan.qa.v);
    if (plan.smem > quant_attention_smem_limit()) {
      return make_error(ErrorCode::kUnsupported, "CUDA quantized attention: {} bytes of shared memory (limit {})",
                        plan.smem, quant_attention_smem_limit());
    }
    occ = cached_occupancy(plan.R, plan.smem, [](int r, size_t smem) {
      return quant_latent_attention_ctas_per_sm(r, smem);
    });
  }
  LRKV_RETURN_IF_ERROR(plan_splits(b.n_seq, b.max_kv, occ, &a));
  return plan;
}

// Prefill through f16 rows: each side's distinct segments decoded once into token rows
// [n_seq][max_kv][width] of the workspace (columns padded to 8 for the vector loads), then
// cuda::latent_attention over them. Holds the per-head arrays the f16 batch points to.
struct Dequantised {
  DecodeArgs side[2];  // keys, values (dst filled in at launch)
  std::vector<int> off[2], len[2];
  size_t bytes[2] = {0, 0};
  LatentAttentionBatch f;
};

size_t round16(size_t x) { return (x + 15) / 16 * 16; }

Status build_side(const QuantRows& s, const SeqRowMaps& maps, int n_head, int max_kv, DecodeArgs* d,
                  std::vector<int>* off, std::vector<int>* len, int* width) {
  d->src = static_cast<const uint8_t*>(s.rows);
  d->row_bytes = s.row_bytes;
  d->seq_bytes = s.seq_bytes;
  d->maps = maps;
  d->bits = s.format.bits;
  d->group = s.format.group;
  d->sym = s.format.scheme == QuantScheme::kSymmetric;
  d->rows = max_kv;
  off->assign(n_head, 0);
  len->assign(n_head, 0);
  int w = 0;
  for (int h = 0; h < n_head; ++h) {
    int found = -1;
    for (int i = 0; i < d->n_seg; ++i) {
      if (d->seg_byte[i] == s.seg_byte[h] && d->seg_len[i] == s.seg_len[h]) found = i;
    }
    if (found < 0) {
      if (d->n_seg == kDecodeMaxSegments) {
        return make_error(ErrorCode::kUnsupported, "CUDA quantized prefill: more than {} distinct segments",
                          kDecodeMaxSegments);
      }
      found = d->n_seg++;
      d->seg_byte[found] = s.seg_byte[h];
      d->seg_len[found] = s.seg_len[h];
      d->dst_col[found] = w;
      w += (s.seg_len[h] + 7) / 8 * 8;
    }
    (*off)[h] = d->dst_col[found];
    (*len)[h] = s.seg_len[h];
  }
  d->ld_dst = w;
  *width = w;
  return Status::Ok();
}

// The f16 batch of `b` over decoded rows (its k/v pointers are bound at launch).
Status make_dequantised(const QuantLatentAttentionBatch& b, Dequantised* dq) {
  const QuantRows* sides[2] = {&b.k, &b.v};
  int width[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    LRKV_RETURN_IF_ERROR(
        build_side(*sides[i], b.maps, b.n_head, b.max_kv, &dq->side[i], &dq->off[i], &dq->len[i], &width[i]));
    dq->bytes[i] = round16(sizeof(uint16_t) * size_t(b.n_seq) * size_t(b.max_kv) * size_t(width[i]));
  }
  LatentAttentionBatch& f = dq->f;
  LatentAttentionParams& p = f.p;
  p.n_q = b.n_q;
  p.q_pos = b.q_pos;
  p.n_head = b.n_head;
  p.qk = b.qk;
  p.ldqk = b.ldqk;
  p.qk_off = b.qk_off;
  p.k = p.v = b.qk;  // placeholders (non-null) until the workspace is bound
  p.ldk = width[0];
  p.ldv = width[1];
  p.k_type = p.v_type = DType::kF16;
  p.k_off = dq->off[0].data();
  p.k_len = dq->len[0].data();
  p.v_off = dq->off[1].data();
  p.v_len = dq->len[1].data();
  p.z = b.z;
  p.ldz = b.ldz;
  p.z_off = b.z_off;
  p.scale = b.scale;
  f.n_seq = b.n_seq;
  f.qk_seq = b.qk_seq;
  f.k_seq = int64_t{b.max_kv} * width[0];
  f.v_seq = int64_t{b.max_kv} * width[1];
  f.z_seq = b.z_seq;
  f.max_kv = b.max_kv;
  f.kernel = AttentionKernel::kPrefill;
  return Status::Ok();
}

// Whether `b` runs as decode + f16 prefill (forced, or kAuto where the f16 batch takes the
// prefill kernel); fills *dq when it does.
Result<bool> dequantised_prefill(const QuantLatentAttentionBatch& b, Dequantised* dq) {
  // Checked here, first: both entry points ask this before they plan either kernel.
  if (b.stages != 0 && (b.stages < 2 || b.stages > kFragMaxStages)) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA quantized attention: {} pipeline stages (0 or 2..{})",
                      b.stages, kFragMaxStages);
  }
  if (b.kernel == AttentionKernel::kSplitK) return false;
  if (b.kernel == AttentionKernel::kAuto && b.n_q * int64_t{b.n_head} < kPrefillRows) return false;
  LRKV_RETURN_IF_ERROR(check_side(b.k, b.n_head, "key"));
  LRKV_RETURN_IF_ERROR(check_side(b.v, b.n_head, "value"));
  if (b.max_kv < 1) return make_error(ErrorCode::kInvalidArgument, "CUDA quantized attention: max_kv {}", b.max_kv);
  LRKV_RETURN_IF_ERROR(make_dequantised(b, dq));
  if (b.kernel == AttentionKernel::kPrefill) return true;
  dq->f.kernel = AttentionKernel::kAuto;
  LRKV_ASSIGN_OR_RETURN(const bool prefill, latent_attention_takes_prefill(dq->f));
  dq->f.kernel = AttentionKernel::kPrefill;
  return prefill;
}

}  // namespace

int quant_frag_pad_stride(int seg, bool keys) {
  for (int ld = (seg + 7) / 8 * 8;; ld += 8) {
    const int w = ld / 4;
    if (keys ? (w % 32 == 8 || w % 32 == 24) : (w % 16 == 4 || w % 16 == 12)) return ld;
  }
}

Result<size_t> quant_latent_attention_workspace_bytes(const QuantLatentAttentionBatch& b) {
  Dequantised dq;
  LRKV_ASSIGN_OR_RETURN(const bool decoded, dequantised_prefill(b, &dq));
  if (decoded) return dq.bytes[0] + dq.bytes[1];
  LRKV_ASSIGN_OR_RETURN(Plan plan, make_plan(b));
  return split_workspace_bytes(plan.qa.a, b.n_seq, plan.R);
}

Status quant_latent_attention(const QuantLatentAttentionBatch& b, cudaStream_t stream) {
  Dequantised dq;
  LRKV_ASSIGN_OR_RETURN(const bool decoded, dequantised_prefill(b, &dq));
  if (decoded) {
    if (b.workspace == nullptr || b.workspace_bytes < dq.bytes[0] + dq.bytes[1]) {
      return make_error(ErrorCode::kInvalidArgument, "CUDA quantized prefill: workspace of {} bytes, {} needed",
                        b.workspace_bytes, dq.bytes[0] + dq.bytes[1]);
    }
    char* ws = static_cast<char*>(b.workspace);
    dq.side[0].dst = ws;
    dq.side[1].dst = ws + dq.bytes[0];
    for (const DecodeArgs& d : dq.side) {
      LRKV_CUDA_RETURN_IF_ERROR(launch_quant_decode(d, b.n_seq, stream), "quantized row decode launch");
    }
    dq.f.p.k = dq.side[0].dst;
    dq.f.p.v = dq.side[1].dst;
    return latent_attention(dq.f, stream);
  }
  LRKV_ASSIGN_OR_RETURN(Plan plan, make_plan(b));
  LRKV_RETURN_IF_ERROR(bind_workspace(&plan.qa.a, b.n_seq, plan.R, b.workspace, b.workspace_bytes));
  if (plan.frag) {
    LRKV_CUDA_RETURN_IF_ERROR(launch_quant_frag_attention(plan.qa, b.n_seq, plan.R, plan.any, plan.smem, stream),
                              "quantized latent attention launch");
  } else {
    LRKV_CUDA_RETURN_IF_ERROR(launch_quant_latent_attention(plan.qa, b.n_seq, plan.R, plan.smem, stream),
                              "quantized latent attention launch");
  }
  if (plan.qa.a.n_splits > 1) {
    LRKV_CUDA_RETURN_IF_ERROR(launch_split_merge(plan.qa.a, b.n_seq, plan.R, stream), "split merge launch");
  }
  return Status::Ok();
}

void codec_segments(const RowCodec& codec, const int* seg, int n_head, std::vector<int64_t>* seg_byte,
                    std::vector<int>* seg_len) {
  seg_byte->resize(n_head);
  seg_len->resize(n_head);
  for (int h = 0; h < n_head; ++h) {
    (*seg_byte)[h] = codec.segments[seg[h]].byte;
    (*seg_len)[h] = codec.segments[seg[h]].len;
  }
}

Status quant_encode_args(const QuantEncodeParams& p, EncodeArgs* e) {
  const QuantFormat& f = p.format;
  LRKV_RETURN_IF_ERROR(f.validate());
  if (!scaled(f)) {
    return make_error(ErrorCode::kUnsupported, "CUDA quant encode: {} (affine or symmetric only)", f.name());
  }
  if (p.n_segments < 1 || p.n_segments > kEncodeMaxSegments || !p.src || !p.dst || !p.seg_col || !p.seg_len ||
      !p.seg_dst) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA quant encode: {} segments (1..{}) or null pointers",
                      p.n_segments, kEncodeMaxSegments);
  }
  if (p.rows > 0x7fffffff) return make_error(ErrorCode::kUnsupported, "CUDA quant encode: {} rows", p.rows);
  e->src = p.src;
  e->ld_src = p.ld_src;
  e->bits = f.bits;
  e->group = f.group;
  e->sym = f.scheme == QuantScheme::kSymmetric;
  e->n_seg = p.n_segments;
  e->dst = static_cast<uint8_t*>(p.dst);
  e->row_bytes = p.row_bytes;
  e->seq_bytes = p.seq_bytes;
  e->maps = p.maps;
  e->seq = p.seq;
  e->pos = p.pos;
  for (int s = 0; s < p.n_segments; ++s) {
    if (p.seg_len[s] < 1 || p.seg_len[s] > kEncodeMaxLen) {
      return make_error(ErrorCode::kUnsupported, "CUDA quant encode: segment {} of {} values (1..{})", s, p.seg_len[s],
                        kEncodeMaxLen);
    }
    e->seg_col[s] = p.seg_col[s];
    e->seg_len[s] = p.seg_len[s];
    e->seg_dst[s] = p.seg_dst[s];
  }
  return Status::Ok();
}

Status quant_encode_rows(const QuantEncodeParams& p, cudaStream_t stream) {
  EncodeArgs e;
  LRKV_RETURN_IF_ERROR(quant_encode_args(p, &e));
  if (p.rows <= 0) return Status::Ok();
  return cuda_status(launch_quant_encode(&e, 1, p.rows, stream), "quant encode launch");
}

Status quant_encode_rows(const QuantEncodeParams& a, const QuantEncodeParams& b, cudaStream_t stream) {
  EncodeArgs e[2];
  LRKV_RETURN_IF_ERROR(quant_encode_args(a, &e[0]));
  LRKV_RETURN_IF_ERROR(quant_encode_args(b, &e[1]));
  if (a.rows != b.rows) {
    return make_error(ErrorCode::kInvalidArgument, "CUDA quant encode: {} and {} rows in one launch", a.rows, b.rows);
  }
  if (a.rows <= 0) return Status::Ok();
  return cuda_status(launch_quant_encode(e, 2, a.rows, stream), "quant encode launch");
}

}  // namespace lrkv::cuda
