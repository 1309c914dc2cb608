// llama2.c checkpoints: legacy v0 (7 x int32 header, fp32 weights; negative vocab_size means an
// unshared classifier) and v1 ("ak42" magic, version 1, 256-byte header, fp32 weights).
#include <climits>
#include <filesystem>

#include "core/mmap_file.h"
#include "io/model_io.h"
#include "io/byte_reader.h"
#include "io/llama2c_tokenizer.h"
#include "model/model.h"

namespace lrkv {

namespace {
namespace fs = std::filesystem;

struct Header {
  int32_t dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
};

// Tokenizer next to the model: tok<vocab>.bin (made for this vocabulary size), then tokenizer.bin.
std::string find_tokenizer(const std::string& model_path, int vocab) {
  const fs::path dir = fs::path(model_path).parent_path();
  for (const std::string& name : {"tok" + std::to_string(vocab) + ".bin", std::string("tokenizer.bin")}) {
    if (fs::exists(dir / name)) return (dir / name).string();
  }
  return {};
}

// Assigns `count` consecutive fp32 tensors of `shape` from the cursor, one per layer if per_layer.
Status take(ByteReader& r, const std::shared_ptr<MappedFile>& file, const std::vector<int64_t>& shape,
            const char* what, Tensor* out) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  if (r.remaining() < bytes) return r.truncated(bytes, what);
  *out = Tensor::view(DType::kF32, shape, const_cast<uint8_t*>(r.cursor()), file, what);
  return r.skip(bytes, what);
}
}  // namespace

Result<Model> load_llama2c(const std::string& path, const LoadOptions& options) {
  LRKV_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  ByteReader r(file->data(), file->size(), path);
  if (file->size() == 0) return make_error(ErrorCode::kCorruptFile, "{}: file is empty (0 bytes)", path);
  uint32_t magic = 0;
  LRKV_RETURN_IF_ERROR(r.read(&magic, "header"));
  bool v1 = false;
  if (magic == 0x616b3432u) {  // "ak42"
    int32_t version = 0;
    LRKV_RETURN_IF_ERROR(r.read(&version, "version"));
    if (version != 1) {
      return make_error(ErrorCode::kUnsupported, "{}: llama2.c checkpoint version {} (only 0 and 1 "
                        "are supported)", path, version);
    }
    v1 = true;
  } else {
    LRKV_RETURN_IF_ERROR(r.seek(0, "header"));
  }
  Header h{};
  LRKV_RETURN_IF_ERROR(r.read(&h, "llama2.c header (7 x int32)"));
  bool shared = h.vocab > 0;
  if (v1) {
    uint8_t shared_flag = 0;
    LRKV_RETURN_IF_ERROR(r.read(&shared_flag, "shared_classifier"));
    shared = shared_flag != 0;
    LRKV_RETURN_IF_ERROR(r.seek(256, "v1 header padding"));
  }
  if (h.vocab == INT_MIN) {  // its negation (the "unshared classifier" sign) does not fit an int
    return make_error(ErrorCode::kCorruptFile, "{}: vocab_size {} is out of range (not a llama2.c checkpoint?)",
                      path, h.vocab);
  }
  LlamaConfig cfg;
  cfg.name = fs::path(path).stem().string();
  cfg.d_model = h.dim;
  cfg.d_ff = h.hidden;
  cfg.n_layer = h.n_layers;
  cfg.n_head = h.n_heads;
  cfg.n_kv_head = h.n_kv_heads;
  cfg.n_vocab = h.vocab < 0 ? -h.vocab : h.vocab;
  cfg.max_seq = h.seq_len;
  cfg.head_dim = h.n_heads > 0 ? h.dim / h.n_heads : 0;
  cfg.rope_layout = RopeLayout::kInterleaved;
  cfg.tied_embeddings = shared;
  if (h.n_heads > 0 && h.dim % h.n_heads != 0) {
    return make_error(ErrorCode::kCorruptFile, "{}: dim {} is not a multiple of n_heads {} (not a "
                      "llama2.c checkpoint?)", path, h.dim, h.n_heads);
  }
  if (Status s = cfg.validate(path + " (llama2.c header)"); !s.ok()) return s;
  if (cfg.max_seq <= 0) return make_error(ErrorCode::kCorruptFile, "{}: seq_len {} must be positive", path, cfg.max_seq);

  const int64_t L = cfg.n_layer, d = cfg.d_model, q = cfg.q_dim(), kv = cfg.kv_dim(), ff = cfg.d_ff;
  // v0 files also hold the legacy RoPE tables freq_cis_real/imag [seq_len, head_dim/2] x 2.
  const int64_t freq_cis = v1 ? 0 : int64_t{cfg.max_seq} * cfg.head_dim;
  const int64_t expected = 4 * (cfg.n_vocab * d * (shared ? 1 : 2) +
                                L * (2 * d + q * d + 2 * kv * d + d * q + 3 * ff * d) + d + freq_cis);
  if (r.remaining() < static_cast<uint64_t>(expected)) {
    return make_error(ErrorCode::kCorruptFile, "{}: truncated: the header implies at least {} bytes "
                      "of weights after offset {}, file has {}", path, expected, r.offset(), r.remaining());
  }

  Model m;
  m.config = cfg;
  m.source_path = path;
  m.source_format = ModelFormat::kLlama2c;
  LlamaWeights& w = m.weights;
  w.layers.resize(L);
  // Stacked per-layer tensors are sliced into per-layer views.
  auto take_stacked = [&](std::vector<int64_t> per_layer, const char* what,
                          Tensor LayerWeights::*member) -> Status {
    std::vector<int64_t> shape = {L};
    shape.insert(shape.end(), per_layer.begin(), per_layer.end());
    Tensor all;
    LRKV_RETURN_IF_ERROR(take(r, file, shape, what, &all));
    int64_t n = 1;
    for (int64_t x : per_layer) n *= x;
    for (int64_t l = 0; l < L; ++l) {
      w.layers[l].*member = Tensor::view(DType::kF32, per_layer, all.data_as<float>() + l * n, file);
    }
    return Status::Ok();
  };
  if (!v1) {
    LRKV_RETURN_IF_ERROR(take(r, file, {cfg.n_vocab, d}, "token_embedding_table", &w.tok_embd));
    LRKV_RETURN_IF_ERROR(take_stacked({d}, "rms_att_weight", &LayerWeights::attn_norm));
    LRKV_RETURN_IF_ERROR(take_stacked({q, d}, "wq", &LayerWeights::wq));
    LRKV_RETURN_IF_ERROR(take_stacked({kv, d}, "wk", &LayerWeights::wk));
    LRKV_RETURN_IF_ERROR(take_stacked({kv, d}, "wv", &LayerWeights::wv));
    LRKV_RETURN_IF_ERROR(take_stacked({d, q}, "wo", &LayerWeights::wo));
    LRKV_RETURN_IF_ERROR(take_stacked({d}, "rms_ffn_weight", &LayerWeights::ffn_norm));
    LRKV_RETURN_IF_ERROR(take_stacked({ff, d}, "w1", &LayerWeights::w_gate));
    LRKV_RETURN_IF_ERROR(take_stacked({d, ff}, "w2", &LayerWeights::w_down));
    LRKV_RETURN_IF_ERROR(take_stacked({ff, d}, "w3", &LayerWeights::w_up));
    LRKV_RETURN_IF_ERROR(take(r, file, {d}, "rms_final_weight", &w.out_norm));
    if (!shared) {
      // Skip the legacy freq_cis_real/imag tables [seq_len, head_dim/2] x 2.
      LRKV_RETURN_IF_ERROR(r.skip(static_cast<uint64_t>(cfg.max_seq) * cfg.head_dim * 4, "freq_cis"));
      LRKV_RETURN_IF_ERROR(take(r, file, {cfg.n_vocab, d}, "wcls", &w.output));
    }
  } else {
    LRKV_RETURN_IF_ERROR(take_stacked({d}, "attention_norm", &LayerWeights::attn_norm));
    LRKV_RETURN_IF_ERROR(take_stacked({d}, "ffn_norm", &LayerWeights::ffn_norm));
    LRKV_RETURN_IF_ERROR(take(r, file, {d}, "norm", &w.out_norm));
    LRKV_RETURN_IF_ERROR(take(r, file, {cfg.n_vocab, d}, "tok_embeddings", &w.tok_embd));
    LRKV_RETURN_IF_ERROR(take_stacked({q, d}, "wq", &LayerWeights::wq));
    LRKV_RETURN_IF_ERROR(take_stacked({kv, d}, "wk", &LayerWeights::wk));
    LRKV_RETURN_IF_ERROR(take_stacked({kv, d}, "wv", &LayerWeights::wv));
    LRKV_RETURN_IF_ERROR(take_stacked({d, q}, "wo", &LayerWeights::wo));
    LRKV_RETURN_IF_ERROR(take_stacked({ff, d}, "w1", &LayerWeights::w_gate));
    LRKV_RETURN_IF_ERROR(take_stacked({d, ff}, "w2", &LayerWeights::w_down));
    LRKV_RETURN_IF_ERROR(take_stacked({ff, d}, "w3", &LayerWeights::w_up));
    if (!shared) LRKV_RETURN_IF_ERROR(take(r, file, {cfg.n_vocab, d}, "output", &w.output));
  }
  // Name every tensor canonically.
  for_each_weight(cfg, w, [](const WeightSlot& s) { s.tensor->set_name(s.name); });
  LRKV_RETURN_IF_ERROR(validate_weights(cfg, w, path));
  if (options.matrix_dtype != DType::kF32) {
    LRKV_RETURN_IF_ERROR(convert_weights(cfg, w, options.matrix_dtype, options.keep_16bit_matrices));
  }

  const std::string tok_path =
      options.tokenizer_path.empty() ? find_tokenizer(path, cfg.n_vocab) : options.tokenizer_path;
  if (!tok_path.empty()) {
    LRKV_ASSIGN_OR_RETURN(Vocab vocab, read_llama2c_tokenizer(tok_path, cfg.n_vocab));
    m.config.bos_id = vocab.bos_id;
    m.config.eos_id = vocab.eos_id;
    auto tok = make_tokenizer(std::move(vocab));
    if (!tok.ok()) return Status(tok.status()).with_context(tok_path);
    m.tokenizer = std::move(tok).value();
  }
  return m;
}

}  // namespace lrkv
