// KiviKvCache: the KIVI baseline (Liu et al. 2024, "KIVI: a tuning-free asymmetric 2bit
// quantization for KV cache") on a dense cache: b-bit asymmetric codes (b = 2 by default), keys
// per channel, values per token, the most recent tokens in fp16. Parameters G (group) and R
// (residual, a multiple of G). For a sequence of n tokens, per layer:
//   keys    rows [0, Qk), Qk = floor(n / R) * R, quantized per channel c over token groups
//           t = j / G: fp16 scale s[t][c] and minimum m[t][c] (the affine rule of quant_row.h);
//           codes stored per token row, KV head after KV head, ceil(head_dim*b/8) bytes each.
//           Rows [Qk, n) stay fp16: the residual is flushed R rows at a time, as in KIVI.
//   values  rows [0, n - R) quantized per token: affine b bits in groups of G channels inside
//           each KV head (fp16 scale + minimum per group); the last min(n, R) rows stay fp16.
// Exact bytes at length n (bytes_at_length), kv = n_kv_head * head_dim, Qv = max(0, n - R):
//   keys    Qk * K_row + (Qk / G) * kv * 4 + (n - Qk) * kv * 2
//   values  Qv * V_row + (n - Qv) * kv * 2
//   K_row = n_kv_head * ceil(head_dim * b / 8)
//   V_row = n_kv_head * (ceil(head_dim / G) * 4 + ceil(head_dim * b / 8))
// bytes_per_token(layer) = the steady-state cost of one more token, K_row + V_row + 4*kv/G
// (rounded up); the fp16 window adds at most (2R - 1) * kv * 2 bytes per layer.
// Attention (kernels/kivi_attention.h) reads every query's own view of this state, so a batched
// prefill gives the same result as decoding the tokens one at a time.
//
// Storage: codes and scales for `capacity` tokens allocated up front; the fp16 rows live in a
// per-(layer, sequence) window that holds the rows queries of the current pass read (at most
// R - 1 + new tokens) and is trimmed at the next write. Truncating to a non-zero length keeps the
// quantized form of rows that had already left the window (used again at full precision only if
// they are still in it). Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "cache/kv_cache_spec.h"
#include "kernels/kivi_attention.h"

namespace lrkv {

class KiviKvCache : public KvCache {
 public:
  static Result<std::unique_ptr<KiviKvCache>> create(int n_layer, int n_seq, int capacity,
                                                     int n_kv_head, int head_dim,
                                                     const KiviParams& params);
  std::string kind() const override;
  KiviKvCache* as_kivi() override { return this; }
  using KvCache::as_kivi;
  int n_layer() const override { return n_layer_; }
  int n_seq() const override { return static_cast<int>(lengths_.size()); }
  int capacity() const override { return capacity_; }
  int64_t bytes_per_token(int layer) const override;
  using KvCache::bytes_per_token;
  int64_t allocated_bytes() const override;
  // Exact bytes of one layer holding n tokens (formula above).
  int64_t bytes_at_length(int layer, int64_t n) const;
  int width() const { return n_kv_head_ * head_dim_; }  // kv_dim
  const KiviParams& params() const { return params_; }

  // Stores n post-RoPE key rows and value rows ([n, kv_dim] f32) at positions [pos, pos + n).
  void write(int layer, int seq, int pos, int n, const float* k, int64_t ldk, const float* v,
             int64_t ldv);
  // The cache fields of KiviAttentionParams for (layer, seq) after a write.
  void fill_attention(int layer, int seq, KiviAttentionParams* p) const;

 private:
  struct Slot {
    std::vector<uint8_t> k_codes, v_rows;  // [capacity, K_row], [capacity, V_row]
    std::vector<f16_bits> k_scale, k_min;  // [ceil(capacity / G), kv]
    std::vector<f16_bits> k_res, v_res;    // fp16 rows [res_begin, res_begin + rows)
    int64_t res_begin = 0;
  };
  KiviKvCache(int n_layer, int n_seq, int capacity, int n_kv_head, int head_dim,
              const KiviParams& params);
  void set_window(Slot& s, int64_t begin, int64_t end) const;  // fp16 rows [begin, end)
  void quantize_key_group(Slot& s, int64_t group) const;       // from the fp16 window
  void decode_key_row(const Slot& s, int64_t j, float* out) const;

  int n_layer_, capacity_, n_kv_head_, head_dim_;
  KiviParams params_;
  RowCodec v_codec_;
  int64_t k_row_ = 0;        // K_row
  std::vector<Slot> slots_;  // [layer * n_seq + seq]
};

}  // namespace lrkv
