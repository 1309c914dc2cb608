#include "model/llama_config.h"

#include <cmath>
#include <numbers>

namespace lrkv {

Status LlamaConfig::validate(const std::string& source) const {
  auto bad = [&](const std::string& what) {
    return make_error(ErrorCode::kCorruptFile, "{}: invalid model config: {}", source, what);
  };
  if (n_vocab <= 0 || d_model <= 0 || n_layer <= 0 || n_head <= 0 || n_kv_head <= 0 ||
      head_dim <= 0 || d_ff <= 0) {
    return bad(fmt::format("sizes must be positive (vocab {}, d_model {}, layers {}, heads {}, kv heads "
                           "{}, head_dim {}, d_ff {})",
                           n_vocab, d_model, n_layer, n_head, n_kv_head, head_dim, d_ff));
  }
  if (max_seq <= 0) return bad(fmt::format("context length {} must be positive", max_seq));
  if (n_head % n_kv_head != 0) {
    return bad(fmt::format("n_head {} is not a multiple of n_kv_head {}", n_head, n_kv_head));
  }
  if (head_dim % 2 != 0) return bad(fmt::format("head_dim {} must be even for RoPE", head_dim));
  if (!(norm_eps > 0) || !(rope_theta > 0)) return bad("norm_eps and rope_theta must be > 0");
  // Caps keep products such as n_head * head_dim and capacity * kv_dim far from int overflow.
  if (n_vocab > (1 << 24) || d_model > (1 << 20) || n_layer > 4096 || n_head > 4096 ||
      head_dim > 4096 || d_ff > (1 << 22) || max_seq > (1 << 24) || int64_t{n_head} * head_dim > (1 << 20)) {
    return bad("sizes implausibly large");
  }
  if (!rope_freq_factors.empty() && static_cast<int>(rope_freq_factors.size()) != head_dim / 2) {
    return bad(fmt::format("rope_freq_factors has {} entries, expected head_dim/2 = {}",
                           rope_freq_factors.size(), head_dim / 2));
  }
  if (bos_id >= n_vocab || eos_id >= n_vocab) {
    return bad(fmt::format("bos {} / eos {} outside vocab {}", bos_id, eos_id, n_vocab));
  }
  return Status::Ok();
}

void rope_inverse_frequencies(const LlamaConfig& cfg, float* inv_freq) {
  const int half = cfg.head_dim / 2;
  const RopeScaling& s = cfg.rope_scaling;
  for (int i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(cfg.rope_theta), -2.0 * i / cfg.head_dim);
    if (!cfg.rope_freq_factors.empty()) {
      f /= cfg.rope_freq_factors[i];
    } else if (s.llama3) {
      // Llama 3.1: long wavelengths divided by factor, short kept, smooth blend in between.
      const double low_wavelen = s.original_max_position / s.low_freq_factor;
      const double high_wavelen = s.original_max_position / s.high_freq_factor;
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (s.original_max_position / wavelen - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
    inv_freq[i] = static_cast<float>(f);
  }
}

}  // namespace lrkv
