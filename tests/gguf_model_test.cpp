// GGUF models: save -> load round trips (tiny llama, GQA qwen2 with biases, f16, Llama-3 RoPE
// scaling, a half-split llama permuted on write, extra tensors and lrkv.* metadata, the real
// stories260K), quantized weights dequantised on load, and model-level errors (shape mismatch,
// missing tensor, unknown architecture, missing hyper-parameter) naming file and tensor/key.
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>

#include "io/gguf_reader.h"
#include "io/model_io.h"
#include "io/gguf_writer.h"
#include "kernels/ggml_quants.h"
#include "model/bpe_tokenizer.h"
#include "model/engine.h"
#include "model/synth.h"
#include "model/utf8.h"
#include "test_util.h"

namespace lrkv {
namespace {

using test::logits_of;

const std::vector<int> kTokens = {1, 5, 77, 299, 3, 42, 260, 8};

void expect_vocab_eq(const Vocab& a, const Vocab& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.scores, b.scores);
  EXPECT_EQ(a.types, b.types);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.pre, b.pre);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.unk_id, b.unk_id);
  EXPECT_EQ(a.pad_id, b.pad_id);
  EXPECT_EQ(a.add_bos, b.add_bos);
  EXPECT_EQ(a.add_space_prefix, b.add_space_prefix);
}

// Every weight has the same dtype, shape and bytes.
void expect_weights_identical(const Model& a, const Model& b) {
  LlamaWeights wa = a.weights, wb = b.weights;
  std::vector<Tensor*> tb;
  for_each_weight(b.config, wb, [&](const WeightSlot& s) { tb.push_back(s.tensor); });
  size_t i = 0;
  for_each_weight(a.config, wa, [&](const WeightSlot& s) {
    ASSERT_LT(i, tb.size());
    const Tensor& x = *s.tensor;
    const Tensor& y = *tb[i++];
    ASSERT_EQ(x.dtype(), y.dtype()) << s.name;
    ASSERT_EQ(x.shape(), y.shape()) << s.name;
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.nbytes()), 0) << s.name;
  });
  EXPECT_EQ(i, tb.size());
}

Model save_and_load(const Model& m, const std::string& name, LoadOptions options = {}) {
  const std::string path = test::temp_dir() + "/" + name;
  Status s = save_gguf(m, path);
  EXPECT_TRUE(s.ok()) << s.to_string();
  auto r = load_model(path, options);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : Model{};
}

void expect_round_trip(const Model& m, const std::string& name) {
  Model back = save_and_load(m, name);
  EXPECT_EQ(m.config, back.config);
  expect_weights_identical(m, back);
  ASSERT_NE(back.tokenizer, nullptr);
  expect_vocab_eq(m.tokenizer->vocab(), back.tokenizer->vocab());
  EXPECT_EQ(back.source_format, ModelFormat::kGguf);
  EXPECT_EQ(logits_of(m, kTokens), logits_of(back, kTokens));
}

TEST(GgufModel, TinyLlamaRoundTrip) {
  auto m = make_random_model(test::tiny_config(), 11);
  ASSERT_TRUE(m.ok());
  expect_round_trip(*m, "tiny.gguf");
}

TEST(GgufModel, TinyLlamaUntiedMhaRoundTrip) {
  LlamaConfig cfg = test::tiny_config(3, 4, 4, 4);
  cfg.tied_embeddings = false;
  cfg.bos_id = 2;
  cfg.eos_id = 1;
  auto m = make_random_model(cfg, 12);
  ASSERT_TRUE(m.ok());
  expect_round_trip(*m, "mha.gguf");
}

TEST(GgufModel, Qwen2GqaWithBiasesRoundTrip) {
  LlamaConfig cfg = test::tiny_config(2, 6, 2, 8);
  cfg.arch = "qwen2";
  cfg.qkv_bias = true;
  cfg.rope_layout = RopeLayout::kHalfSplit;
  cfg.rope_theta = 1e6f;
  cfg.norm_eps = 1e-6f;
  cfg.tied_embeddings = true;
  auto m = make_random_model(cfg, 13);
  ASSERT_TRUE(m.ok());
  expect_round_trip(*m, "qwen2.gguf");
}

// A byte-level BPE vocabulary of 268 tokens: the byte alphabet, 9 merges, 3 specials.
Vocab small_bpe_vocab() {
  Vocab v;
  v.kind = TokenizerKind::kBpe;
  v.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    std::string piece;
    utf8_append(piece, bpe_byte_to_codepoint(static_cast<uint8_t>(b)));
    v.tokens.push_back(piece);
  }
  for (auto [a, b] : {std::pair{"h", "e"},
                      {"l", "l"},
                      {"he", "ll"},
                      {"hell", "o"},
                      {"\xC4\xA0", "w"},
                      {"o", "r"},
                      {"\xC4\xA0w", "or"},
                      {"1", "2"},
                      {"12", "3"}}) {
    v.merges.push_back(std::string(a) + " " + b);
    v.tokens.push_back(std::string(a) + b);
  }
  v.tokens.insert(v.tokens.end(), {"<|bos|>", "<|eot|>", "xyz"});
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  v.types[265] = v.types[266] = TokenType::kControl;
  v.bos_id = 265;
  v.eos_id = 266;
  v.unk_id = -1;
  v.add_bos = false;
  v.add_space_prefix = false;
  return v;
}

TEST(GgufModel, BpeTokenizerRoundTrip) {
  LlamaConfig cfg = test::tiny_config(1, 4, 2, 6);
  cfg.n_vocab = 268;
  cfg.arch = "qwen2";
  cfg.qkv_bias = true;
  cfg.rope_layout = RopeLayout::kHalfSplit;
  cfg.bos_id = 265;
  cfg.eos_id = 266;
  auto m = make_random_model(cfg, 20);
  ASSERT_TRUE(m.ok());
  auto tok = make_tokenizer(small_bpe_vocab());
  if (!tok.ok() && tok.status().code() == ErrorCode::kUnsupported) GTEST_SKIP() << "no BPE yet";
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  m->tokenizer = std::move(tok).value();
  Model back = save_and_load(*m, "bpe.gguf");
  EXPECT_EQ(m->config, back.config);
  ASSERT_NE(back.tokenizer, nullptr);
  expect_vocab_eq(m->tokenizer->vocab(), back.tokenizer->vocab());
  const std::string text = "hello world 123";
  EXPECT_EQ(back.tokenizer->encode(text, false), m->tokenizer->encode(text, false));
}

TEST(GgufModel, F16WeightsRoundTrip) {
  auto m = make_random_model(test::tiny_config(), 14, DType::kF16);
  ASSERT_TRUE(m.ok());
  LoadOptions f16;
  f16.matrix_dtype = DType::kF16;
  Model back = save_and_load(*m, "f16.gguf", f16);
  EXPECT_EQ(m->config, back.config);
  expect_weights_identical(*m, back);
  EXPECT_EQ(back.weights.layers[0].wq.dtype(), DType::kF16);
  EXPECT_EQ(back.weights.layers[0].attn_norm.dtype(), DType::kF32);
  EXPECT_EQ(logits_of(*m, kTokens), logits_of(back, kTokens));
  // Loaded as f32 by default: the exact f16 values widened.
  auto wide = load_model(back.source_path);
  ASSERT_TRUE(wide.ok());
  const Tensor& w16 = back.weights.layers[1].w_down;
  const Tensor& w32 = wide->weights.layers[1].w_down;
  ASSERT_EQ(w32.dtype(), DType::kF32);
  for (int64_t i = 0; i < w16.numel(); ++i) {
    ASSERT_EQ(w32.f32()[i], f16_to_f32(w16.data_as<f16_bits>()[i])) << i;
  }
}

// keep_16bit_matrices (what --dtype auto asks for on the GPU): f16 and bf16 matrices stay as
// stored, bit for bit; f32 matrices become matrix_dtype; norms stay f32.
TEST(GgufModel, SixteenBitMatricesKeepTheirTypeOnRequest) {
  auto m = make_random_model(test::tiny_config(), 15, DType::kF16);
  ASSERT_TRUE(m.ok());
  LoadOptions f16;
  f16.matrix_dtype = DType::kF16;
  Model stored = save_and_load(*m, "keep16.gguf", f16);
  LoadOptions keep;
  keep.matrix_dtype = DType::kBF16;
  keep.keep_16bit_matrices = true;
  auto back = load_model(stored.source_path, keep);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  expect_weights_identical(stored, *back);
  EXPECT_EQ(back->weights.layers[0].wq.dtype(), DType::kF16);
  EXPECT_EQ(back->weights.layers[0].attn_norm.dtype(), DType::kF32);
  // Matrices in f32 (converted in memory here) become matrix_dtype.
  LlamaWeights w = back->weights;
  auto wide = w.layers[1].w_down.to(DType::kF32);
  ASSERT_TRUE(wide.ok());
  w.layers[1].w_down = *wide;
  ASSERT_TRUE(convert_weights(back->config, w, DType::kBF16, true).ok());
  EXPECT_EQ(w.layers[1].w_down.dtype(), DType::kBF16);
  EXPECT_EQ(w.layers[1].w_up.dtype(), DType::kF16);
  // Without keep_16bit every matrix becomes matrix_dtype.
  ASSERT_TRUE(convert_weights(back->config, w, DType::kBF16).ok());
  EXPECT_EQ(w.layers[1].w_up.dtype(), DType::kBF16);
}

TEST(GgufModel, HalfSplitLlamaIsWrittenInterleaved) {
  LlamaConfig cfg = test::tiny_config();
  cfg.rope_layout = RopeLayout::kHalfSplit;  // as loaded from HF safetensors
  cfg.qkv_bias = true;
  auto m = make_random_model(cfg, 15);
  ASSERT_TRUE(m.ok());
  Model back = save_and_load(*m, "hs.gguf");
  EXPECT_EQ(back.config.rope_layout, RopeLayout::kInterleaved);
  const Tensor want =
      permute_rope_rows(m->weights.layers[1].wk, cfg.n_kv_head, cfg.head_dim, false);
  const Tensor& got = back.weights.layers[1].wk;
  EXPECT_EQ(std::memcmp(want.data(), got.data(), want.nbytes()), 0);
  const std::vector<float> a = logits_of(*m, kTokens), b = logits_of(back, kTokens);
  EXPECT_LT(test::max_abs_diff(a, b).value, 1e-4);
}

TEST(GgufModel, Llama3ScalingBecomesRopeFreqs) {
  LlamaConfig cfg = test::tiny_config(1, 2, 1, 16);
  cfg.rope_theta = 500000.0f;
  cfg.rope_scaling.llama3 = true;
  cfg.rope_scaling.factor = 8.0f;
  cfg.rope_scaling.original_max_position = 64;
  auto m = make_random_model(cfg, 16);
  ASSERT_TRUE(m.ok());
  Model back = save_and_load(*m, "l3.gguf");
  ASSERT_EQ(back.config.rope_freq_factors.size(), 8u);
  std::vector<float> want(8), got(8);
  rope_inverse_frequencies(cfg, want.data());
  rope_inverse_frequencies(back.config, got.data());
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(got[i], want[i], 1e-6 * want[i]) << i;
  EXPECT_EQ(back.config.rope_freq_factors.back(), 8.0f);  // the lowest frequency is divided by 8
  EXPECT_TRUE(back.extra_tensors.empty());
  // Saved again: the factors are kept as they are.
  Model again = save_and_load(back, "l3b.gguf");
  EXPECT_EQ(again.config.rope_freq_factors, back.config.rope_freq_factors);
}

TEST(GgufModel, ExtraTensorsAndMetadata) {
  auto m = make_random_model(test::tiny_config(), 17);
  ASSERT_TRUE(m.ok());
  std::vector<float> x(3 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * i) * (1 + i % 5);
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kF16, DType::kF32}) {
    Tensor q = Tensor::zeros(t, {3, 64});
    ASSERT_TRUE(quantize_from_f32(t, x.data(), q.data(), q.numel()).ok());
    m->extra_tensors["lrkv.factor." + std::string(dtype_name(t))] = q;
  }
  m->extra_metadata["lrkv.note"] = R"({"ranks":[4,8]})";
  Model back = save_and_load(*m, "extra.gguf");
  EXPECT_EQ(back.extra_metadata, m->extra_metadata);
  ASSERT_EQ(back.extra_tensors.size(), 4u);
  for (const auto& [name, orig] : m->extra_tensors) {
    const Tensor& got = back.extra_tensors[name];
    const DType want_type = dtype_is_quantized(orig.dtype()) ? DType::kF32 : orig.dtype();
    ASSERT_EQ(got.dtype(), want_type) << name;
    EXPECT_EQ(got.shape(), orig.shape()) << name;
    auto want = orig.to(DType::kF32);
    auto have = got.to(DType::kF32);
    ASSERT_TRUE(want.ok() && have.ok());
    EXPECT_EQ(std::memcmp(want->data(), have->data(), want->nbytes()), 0) << name;
  }
}

// Copies a GGUF file through GgufWriter; `edit` may change metadata and tensors on the way.
struct Contents {
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::vector<std::pair<std::string, Tensor>> tensors;
};
std::string rewrite(const std::string& src, const std::string& name,
                    const std::function<void(Contents&)>& edit) {
  auto f = read_gguf(src);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  Contents c;
  c.metadata = f->metadata();
  for (const GgufTensorInfo& t : f->tensors()) c.tensors.emplace_back(t.name, f->view(t));
  edit(c);
  GgufWriter w;
  for (auto& [k, v] : c.metadata) w.set(k, v);
  for (auto& [n, t] : c.tensors) EXPECT_TRUE(w.add_tensor(n, t).ok()) << n;
  const std::string path = test::temp_dir() + "/" + name;
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

std::string tiny_file() {
  auto m = make_random_model(test::tiny_config(), 18);
  EXPECT_TRUE(m.ok());
  const std::string path = test::temp_dir() + "/base.gguf";
  EXPECT_TRUE(save_gguf(*m, path).ok());
  return path;
}

void expect_load_error(const std::string& path, ErrorCode code, const std::string& needle) {
  auto r = load_model(path);
  ASSERT_FALSE(r.ok());
  const std::string msg = r.status().message();
  EXPECT_EQ(r.status().code(), code) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(GgufModel, ModelLevelErrors) {
  const std::string base = tiny_file();
  const std::string wrong_k = rewrite(base, "k.gguf", [](Contents& c) {
    for (auto& [n, t] : c.tensors) {
      if (n == "blk.1.attn_k.weight") t = Tensor::zeros(DType::kF32, {13, 20});
    }
  });
  expect_load_error(wrong_k, ErrorCode::kShapeMismatch,
                    "'blk.1.attn_k.weight' has shape [13, 20], expected [12, 20]");
  const std::string missing = rewrite(base, "missing.gguf", [](Contents& c) {
    std::erase_if(c.tensors, [](const auto& p) { return p.first == "blk.0.ffn_up.weight"; });
  });
  expect_load_error(missing, ErrorCode::kNotFound, "missing tensor 'blk.0.ffn_up.weight'");
  const std::string arch = rewrite(base, "arch.gguf", [](Contents& c) {
    for (auto& [k, v] : c.metadata) {
      if (k == "general.architecture") v = GgufValue::str("mamba");
    }
  });
  expect_load_error(arch, ErrorCode::kUnsupported, "architecture 'mamba'");
  const std::string no_key = rewrite(base, "nokey.gguf", [](Contents& c) {
    std::erase_if(c.metadata, [](const auto& p) { return p.first == "llama.block_count"; });
  });
  expect_load_error(no_key, ErrorCode::kNotFound, "'llama.block_count'");
  const std::string bad_type = rewrite(base, "badtype.gguf", [](Contents& c) {
    for (auto& [k, v] : c.metadata) {
      if (k == "llama.embedding_length") v = GgufValue::str("twenty");
    }
  });
  expect_load_error(bad_type, ErrorCode::kCorruptFile,
                    "'llama.embedding_length' should be an integer");
}

TEST(GgufModel, FailedSaveKeepsExistingFile) {
  auto m = make_random_model(test::tiny_config(), 21);
  ASSERT_TRUE(m.ok());
  const std::string path = test::temp_dir() + "/keep.gguf";
  ASSERT_TRUE(save_gguf(*m, path).ok());
  m->extra_tensors["lrkv.bad"] = Tensor::zeros(DType::kI32, {4});  // no GGML type
  Status s = save_gguf(*m, path);
  EXPECT_EQ(s.code(), ErrorCode::kUnsupported) << s.to_string();
  EXPECT_NE(s.message().find("lrkv.bad"), std::string::npos) << s.message();
  m->extra_tensors.clear();
  m->config.arch = "gpt2";
  EXPECT_EQ(save_gguf(*m, path).code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(load_model(path).ok());
}

TEST(GgufModel, CorruptFilesThroughLoadModel) {
  const std::string dir = test::temp_dir();
  const std::string base = tiny_file();
  auto bytes = read_text_file(base);
  ASSERT_TRUE(bytes.ok());
  for (size_t cut : {size_t{8}, size_t{100}, size_t{3000}, bytes->size() - 100}) {
    const std::string path = dir + "/cut" + std::to_string(cut) + ".gguf";
    ASSERT_TRUE(write_file_atomic(path, bytes->substr(0, cut)).ok());
    expect_load_error(path, ErrorCode::kCorruptFile, "truncated");
  }
}

// Random byte corruptions of the header, metadata and tensor infos load or fail cleanly.
TEST(GgufModel, RandomHeaderCorruptionsFailCleanly) {
  const std::string base = tiny_file();
  auto bytes = read_text_file(base);
  auto f = read_gguf(base);
  ASSERT_TRUE(bytes.ok() && f.ok());
  std::mt19937 rng(5);
  const std::string path = test::temp_dir() + "/flip.gguf";
  for (int iter = 0; iter < 300; ++iter) {
    std::string b = bytes.value();
    for (int k = 0; k < 1 + iter % 3; ++k) {
      b[rng() % f->data_offset()] = static_cast<char>(rng() % 4 == 0 ? 0xff : rng());
    }
    ASSERT_TRUE(write_file_atomic(path, b).ok());
    auto r = load_model(path);
    if (!r.ok())
      EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  }
}

TEST(GgufModel, QuantizedWeightsAreDequantisedOnLoad) {
  LlamaConfig cfg = test::tiny_config(2, 4, 2, 8);
  cfg.d_model = 32;
  cfg.d_ff = 64;
  auto m = make_random_model(cfg, 19);
  ASSERT_TRUE(m.ok());
  const std::string base = test::temp_dir() + "/q_base.gguf";
  ASSERT_TRUE(save_gguf(*m, base).ok());
  std::map<std::string, Tensor> quantized;
  const std::string path = rewrite(base, "q.gguf", [&](Contents& c) {
    int k = 0;
    for (auto& [n, t] : c.tensors) {
      if (t.ndim() != 2) continue;
      const DType qt = k++ % 2 == 0 ? DType::kQ8_0 : DType::kQ4_0;
      Tensor q = Tensor::zeros(qt, t.shape(), n);
      ASSERT_TRUE(quantize_from_f32(qt, t.f32(), q.data(), t.numel()).ok());
      t = quantized[n] = q;
    }
  });
  for (DType target : {DType::kF32, DType::kBF16}) {
    LoadOptions opt;
    opt.matrix_dtype = target;
    auto back = load_model(path, opt);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    for_each_weight(back->config, back->weights, [&](const WeightSlot& s) {
      if (!s.is_matrix) return;
      ASSERT_EQ(s.tensor->dtype(), target) << s.name;
      auto want = quantized.at(s.name).to(target);
      ASSERT_TRUE(want.ok());
      EXPECT_EQ(std::memcmp(want->data(), s.tensor->data(), want->nbytes()), 0) << s.name;
    });
  }
}

TEST(GgufModel, Stories260KConvertsBitExactly) {
  const std::string rel = "models/stories260K/stories260K.bin";
  LRKV_REQUIRE_SHARED(rel);
  auto orig = load_model(test::shared_path(rel));
  ASSERT_TRUE(orig.ok()) << orig.status().to_string();
  ASSERT_NE(orig->tokenizer, nullptr);
  Model back = save_and_load(*orig, "stories260K.gguf");
  EXPECT_EQ(orig->config, back.config);
  expect_weights_identical(*orig, back);
  ASSERT_NE(back.tokenizer, nullptr);
  expect_vocab_eq(orig->tokenizer->vocab(), back.tokenizer->vocab());
  const std::string text =
      "Once upon a time, there was a little girl named Lily. She liked to play.";
  const std::vector<int> ids = orig->tokenizer->encode(text, true);
  EXPECT_EQ(back.tokenizer->encode(text, true), ids);
  EXPECT_EQ(back.tokenizer->decode({ids.begin() + 1, ids.end()}), text);
  EXPECT_EQ(logits_of(*orig, ids), logits_of(back, ids));
}

}  // namespace
}  // namespace lrkv

namespace lrkv {
namespace {

// Issue 17: a GGUF with context length 0 loaded as a model with context 0.
TEST(GgufModel, ZeroContextLengthIsRefused) {
  const std::string base = tiny_file();
  const std::string zero = rewrite(base, "ctx0.gguf", [](Contents& c) {
    for (auto& [k, v] : c.metadata) {
      if (k == "llama.context_length") v = GgufValue::u32(0);
    }
  });
  expect_load_error(zero, ErrorCode::kCorruptFile, "context length 0");
}

}  // namespace
}  // namespace lrkv
