#include "model/synth.h"

#include <cmath>

#include "core/thread_pool.h"
#include "kernels/elem.h"

namespace lrkv {

namespace {

struct Preset {
  std::string_view name;
  LlamaConfig cfg;
};

LlamaConfig make_cfg(std::string name, int vocab, int d, int layers, int heads, int kv_heads, int ff,
                     int ctx, float theta) {
  LlamaConfig c;
  c.name = std::move(name);
  c.n_vocab = vocab;
  c.d_model = d;
  c.n_layer = layers;
  c.n_head = heads;
  c.n_kv_head = kv_heads;
  c.head_dim = d / heads;
  c.d_ff = ff;
  c.max_seq = ctx;
  c.rope_theta = theta;
  return c;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> kPresets = [] {
    std::vector<Preset> p;
    p.push_back({"llama2-7b", make_cfg("synth-llama2-7b", 32000, 4096, 32, 32, 32, 11008, 4096, 1e4f)});
    LlamaConfig l3 = make_cfg("synth-llama3-8b", 128256, 4096, 32, 32, 8, 14336, 8192, 5e5f);
    l3.rope_scaling.llama3 = true;
    l3.rope_scaling.factor = 8.0f;
    l3.rope_scaling.low_freq_factor = 1.0f;
    l3.rope_scaling.high_freq_factor = 4.0f;
    l3.rope_scaling.original_max_position = 8192;
    l3.bos_id = 1;
    l3.eos_id = 2;
    l3.norm_eps = 1e-5f;
    p.push_back({"llama3-8b", l3});
    p.push_back({"tiny", make_cfg("synth-tiny", 512, 64, 2, 4, 2, 172, 256, 1e4f)});
    return p;
  }();
  return kPresets;
}

// splitmix64: a tiny, high-quality, seekable generator (so threads fill disjoint ranges).
inline uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Standard normal from two counters via Box-Muller.
inline float normal_at(uint64_t seed, uint64_t i) {
  const uint64_t a = splitmix(seed ^ (2 * i)), b = splitmix(seed ^ (2 * i + 1));
  const double u1 = ((a >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  const double u2 = (b >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

// Uniform in [-sqrt(3), sqrt(3)) (unit variance) from 24 bits of one hash.
inline float uniform_at(uint64_t seed, uint64_t i) {
  const float u = static_cast<float>(splitmix(seed ^ i) >> 40) * (1.0f / 16777216.0f);
  return 1.7320508f * (2.0f * u - 1.0f);
}

void fill_random(Tensor& t, uint64_t seed, float mean, float stddev, RandomFill fill) {
  const int64_t n = t.numel();
  global_pool().parallel_for(n, 1 << 16, [&](int64_t i0, int64_t i1) {
    if (fill == RandomFill::kUniform) {
      for (int64_t i = i0; i < i1; ++i) store_elem(t.data(), t.dtype(), i, mean + stddev * uniform_at(seed, i));
    } else {
      for (int64_t i = i0; i < i1; ++i) store_elem(t.data(), t.dtype(), i, mean + stddev * normal_at(seed, i));
    }
  });
}

}  // namespace

Result<LlamaConfig> preset_config(std::string_view name) {
  for (const Preset& p : presets()) {
    if (p.name == name) return p.cfg;
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown preset '{}'; expected one of: {}", name,
                    preset_names());
}

std::string preset_names() {
  std::string s;
  for (const Preset& p : presets()) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

Vocab make_synthetic_vocab(int n) {
  Vocab v;
  v.kind = TokenizerKind::kSentencePiece;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(fmt::format("<0x{:02X}>", b));
    v.types.push_back(TokenType::kByte);
  }
  // Pieces: "▁" + letter, letters, then two/three-letter strings, with decreasing scores.
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz";
  std::vector<std::string> pieces = {"\xE2\x96\x81"};
  for (char c : letters) pieces.push_back(std::string(1, c));
  for (char c : letters) pieces.push_back("\xE2\x96\x81" + std::string(1, c));
  for (char a : letters) for (char b : letters) pieces.push_back(std::string{a, b});
  for (char a : letters) for (char b : letters) pieces.push_back("\xE2\x96\x81" + std::string{a, b});
  for (size_t i = 0; v.tokens.size() < static_cast<size_t>(n); ++i) {
    if (i < pieces.size()) {
      v.tokens.push_back(pieces[i]);
    } else {
      v.tokens.push_back(fmt::format("<extra_{}>", i - pieces.size()));
    }
    v.types.push_back(TokenType::kNormal);
  }
  v.tokens.resize(n);
  v.types.resize(n);
  v.scores.resize(n);
  for (int i = 0; i < n; ++i) v.scores[i] = i < 259 ? 0.0f : -static_cast<float>(i - 259);
  return v;
}

Result<Model> make_random_model(const LlamaConfig& cfg, uint64_t seed, DType matrix_dtype, RandomFill fill) {
  LRKV_RETURN_IF_ERROR(cfg.validate("synthetic config"));
  if (cfg.n_vocab < 259) {
    return make_error(ErrorCode::kInvalidArgument, "synthetic models need n_vocab >= 259, got {}", cfg.n_vocab);
  }
  Model m;
  m.config = cfg;
  m.source_format = ModelFormat::kGguf;
  m.source_path = "synthetic:" + cfg.name;
  uint64_t k = 0;
  for_each_weight(m.config, m.weights, [&](const WeightSlot& s) {
    const uint64_t tseed = splitmix(seed + 0x1000 * ++k);
    *s.tensor = Tensor::zeros(s.is_matrix ? matrix_dtype : DType::kF32, s.shape, s.name);
    if (s.is_matrix) {
      fill_random(*s.tensor, tseed, 0.0f, 1.0f / std::sqrt(static_cast<float>(s.shape.back())), fill);
    } else if (s.name.find("bias") != std::string::npos) {
      fill_random(*s.tensor, tseed, 0.0f, 0.1f, fill);
    } else {
      fill_random(*s.tensor, tseed, 1.0f, 0.1f, fill);  // RMSNorm gains
    }
  });
  Vocab vocab = make_synthetic_vocab(cfg.n_vocab);
  vocab.bos_id = cfg.bos_id;
  vocab.eos_id = cfg.eos_id;
  LRKV_ASSIGN_OR_RETURN(m.tokenizer, make_tokenizer(std::move(vocab)));
  return m;
}

}  // namespace lrkv
