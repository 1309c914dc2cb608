#include "cache/kivi_kv_cache.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/bitpack.h"

namespace lrkv {

KiviKvCache::KiviKvCache(int n_layer, int n_seq, int capacity, int n_kv_head, int head_dim,
                         const KiviParams& params)
    : KvCache(n_seq),
      n_layer_(n_layer),
      capacity_(capacity),
      n_kv_head_(n_kv_head),
      head_dim_(head_dim),
      params_(params) {}

Result<std::unique_ptr<KiviKvCache>> KiviKvCache::create(int n_layer, int n_seq, int capacity,
                                                         int n_kv_head, int head_dim,
                                                         const KiviParams& params) {
  KvCacheSpec spec;
  spec.quant = KvQuant::kKivi;
  spec.kivi = params;
  LRKV_RETURN_IF_ERROR(spec.validate());
  if (n_layer <= 0 || n_seq <= 0 || capacity <= 0 || n_kv_head <= 0 || head_dim <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "KV cache sizes must be positive ({} layers, {} seqs, capacity {})", n_layer,
                      n_seq, capacity);
  }
  std::unique_ptr<KiviKvCache> c(
      new KiviKvCache(n_layer, n_seq, capacity, n_kv_head, head_dim, params));
  const QuantFormat vf{QuantScheme::kAffine, params.bits, params.group};
  LRKV_ASSIGN_OR_RETURN(c->v_codec_, RowCodec::create(vf, std::vector<int>(n_kv_head, head_dim)));
  c->k_row_ = int64_t{n_kv_head} * packed_bytes(head_dim, params.bits);
  const int64_t kv = c->width(), n_groups = (capacity + params.group - 1) / params.group;
  c->slots_.resize(static_cast<size_t>(n_layer) * n_seq);
  for (Slot& s : c->slots_) {
    s.k_codes.resize(capacity * c->k_row_);
    s.v_rows.resize(capacity * c->v_codec_.row_bytes);
    s.k_scale.resize(n_groups * kv);
    s.k_min.resize(n_groups * kv);
  }
  return c;
}

std::string KiviKvCache::kind() const {
  return fmt::format("dense kivi{} g{} r{} (fp16 window)", params_.bits, params_.group,
                     params_.residual);
}

int64_t KiviKvCache::bytes_per_token(int) const {
  const int64_t kv = width();
  return k_row_ + v_codec_.row_bytes + (4 * kv + params_.group - 1) / params_.group;
}

int64_t KiviKvCache::bytes_at_length(int, int64_t n) const {
  const int64_t kv = width(), R = params_.residual;
  const int64_t qk = n / R * R, qv = std::max<int64_t>(0, n - R);
  const int64_t keys = qk * k_row_ + qk / params_.group * kv * 4 + (n - qk) * kv * 2;
  const int64_t values = qv * v_codec_.row_bytes + (n - qv) * kv * 2;
  return keys + values;
}

int64_t KiviKvCache::allocated_bytes() const {
  int64_t b = 0;
  for (const Slot& s : slots_) {
    b += static_cast<int64_t>(s.k_codes.size() + s.v_rows.size()) +
         2 * static_cast<int64_t>(s.k_scale.size() + s.k_min.size() + s.k_res.size() +
                                  s.v_res.size());
  }
  return b;
}

void KiviKvCache::decode_key_row(const Slot& s, int64_t j, float* out) const {
  const int64_t kv = width(), base = j / params_.group * kv;
  const int64_t hb = packed_bytes(head_dim_, params_.bits);
  std::vector<uint8_t> codes(head_dim_);
  for (int g = 0; g < n_kv_head_; ++g) {
    cpu::unpack_bits(s.k_codes.data() + j * k_row_ + g * hb, 0, head_dim_, params_.bits,
                     codes.data());
    for (int c = 0; c < head_dim_; ++c) {
      const int64_t i = base + int64_t{g} * head_dim_ + c;
      out[g * head_dim_ + c] =
          f16_to_f32(s.k_scale[i]) * static_cast<float>(codes[c]) + f16_to_f32(s.k_min[i]);
    }
  }
}

void KiviKvCache::set_window(Slot& s, int64_t begin, int64_t end) const {
  const int64_t kv = width();
  const int64_t have_end = s.res_begin + static_cast<int64_t>(s.k_res.size()) / kv;
  if (s.res_begin <= begin && have_end >= end) {  // the usual case: trim in place
    const int64_t drop = (begin - s.res_begin) * kv;
    s.k_res.erase(s.k_res.begin(), s.k_res.begin() + drop);
    s.v_res.erase(s.v_res.begin(), s.v_res.begin() + drop);
    s.k_res.resize((end - begin) * kv);
    s.v_res.resize((end - begin) * kv);
    s.res_begin = begin;
    return;
  }
  // After a truncation: rows that left the window come back from their quantized form.
  std::vector<f16_bits> nk((end - begin) * kv), nv((end - begin) * kv);
  std::vector<float> tmp(kv);
  for (int64_t j = begin; j < end; ++j) {
    f16_bits* kd = nk.data() + (j - begin) * kv;
    f16_bits* vd = nv.data() + (j - begin) * kv;
    if (j >= s.res_begin && j < have_end) {
      std::copy_n(s.k_res.data() + (j - s.res_begin) * kv, kv, kd);
      std::copy_n(s.v_res.data() + (j - s.res_begin) * kv, kv, vd);
      continue;
    }
    decode_key_row(s, j, tmp.data());
    convert_f32_to_f16(tmp.data(), kd, kv);
    cpu::decode_row(v_codec_, s.v_rows.data() + j * v_codec_.row_bytes, tmp.data());
    convert_f32_to_f16(tmp.data(), vd, kv);
  }
  s.k_res.swap(nk);
  s.v_res.swap(nv);
  s.res_begin = begin;
}

void KiviKvCache::quantize_key_group(Slot& s, int64_t tg) const {
  const int64_t kv = width(), G = params_.group, j0 = tg * G;
  const f16_bits* rows = s.k_res.data() + (j0 - s.res_begin) * kv;
  std::vector<uint8_t> codes(G * kv);
  for (int64_t c = 0; c < kv; ++c) {
    float lo = f16_to_f32(rows[c]), hi = lo;
    for (int64_t r = 1; r < G; ++r) {
      const float x = f16_to_f32(rows[r * kv + c]);
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    const AffineRange ar = affine_range(lo, hi, params_.bits);
    s.k_scale[tg * kv + c] = ar.scale;
    s.k_min[tg * kv + c] = ar.min;
    const float sc = f16_to_f32(ar.scale), mn = f16_to_f32(ar.min);
    for (int64_t r = 0; r < G; ++r)
      codes[r * kv + c] = affine_code(f16_to_f32(rows[r * kv + c]), sc, mn, params_.bits);
  }
  const int64_t hb = packed_bytes(head_dim_, params_.bits);
  for (int64_t r = 0; r < G; ++r) {
    for (int g = 0; g < n_kv_head_; ++g) {
      pack_bits(codes.data() + r * kv + int64_t{g} * head_dim_, head_dim_, params_.bits,
                s.k_codes.data() + (j0 + r) * k_row_ + g * hb);
    }
  }
}

void KiviKvCache::write(int layer, int seq, int pos, int n, const float* k, int64_t ldk,
                        const float* v, int64_t ldv) {
  LRKV_CHECK(pos >= 0 && pos + n <= capacity_, "write rows [{}, {}) beyond capacity {}", pos,
             pos + n, capacity_);
  LRKV_CHECK(layer >= 0 && layer < n_layer_ && seq >= 0 && seq < n_seq(), "layer {} seq {}", layer,
             seq);
  Slot& s = slots_[static_cast<size_t>(layer) * n_seq() + seq];
  const int64_t kv = width(), R = params_.residual, G = params_.group;
  const int64_t need =
      std::max<int64_t>(0, pos + 1 - R);  // oldest row a query of this pass reads in fp16
  set_window(s, need, pos);
  s.k_res.resize((pos + n - need) * kv);
  s.v_res.resize((pos + n - need) * kv);
  for (int64_t i = 0; i < n; ++i) {
    convert_f32_to_f16(k + i * ldk, s.k_res.data() + (pos - need + i) * kv, kv);
    convert_f32_to_f16(v + i * ldv, s.v_res.data() + (pos - need + i) * kv, kv);
  }
  // Values: every new row is encoded now (from its fp16 form); attention reads the codes only
  // once the row has left the window.
  global_pool().parallel_for(n, 16, [&](int64_t i0, int64_t i1) {
    std::vector<float> tmp(kv);
    for (int64_t i = i0; i < i1; ++i) {
      convert_f16_to_f32(s.v_res.data() + (pos - need + i) * kv, tmp.data(), kv);
      encode_row(v_codec_, tmp.data(), s.v_rows.data() + (pos + i) * v_codec_.row_bytes);
    }
  });
  // Keys: flush whole residual blocks of R rows that this write completes.
  const int64_t q0 = pos / R * R, q1 = (pos + n) / R * R;
  for (int64_t tg = q0 / G; tg < q1 / G; ++tg) quantize_key_group(s, tg);
}

void KiviKvCache::fill_attention(int layer, int seq, KiviAttentionParams* p) const {
  const Slot& s = slots_[static_cast<size_t>(layer) * n_seq() + seq];
  p->bits = params_.bits;
  p->group = params_.group;
  p->residual = params_.residual;
  p->k_codes = s.k_codes.data();
  p->k_code_bytes = k_row_;
  p->k_scale = s.k_scale.data();
  p->k_min = s.k_min.data();
  p->v_rows = s.v_rows.data();
  p->v_codec = &v_codec_;
  p->k_res = s.k_res.data();
  p->v_res = s.v_res.data();
  p->res_begin = s.res_begin;
}

}  // namespace lrkv
