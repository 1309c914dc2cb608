#include "compress/compressor.h"

#include "model/methods.h"

#include "compress/factorize.h"
#include "compress/truncate.h"
#include "core/progress.h"
#include "model/latent_layer.h"

namespace lrkv {

namespace {

// Rows [row0, row0 + n) of a weight [out, in] as fp64.
Result<Mat> weight_rows(const Tensor& w, int64_t row0, int64_t n) {
  LRKV_ASSIGN_OR_RETURN(Tensor f, w.dtype() == DType::kF32 ? Result<Tensor>(w) : w.to(DType::kF32));
  const int64_t in = w.dim(1);
  Mat m(n, in);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < in; ++j) m(i, j) = f.f32()[(row0 + i) * in + j];
  }
  return m;
}

Tensor to_tensor(const Mat& m, const std::string& name) {
  Tensor t = Tensor::zeros(DType::kF32, {m.rows, m.cols}, name);
  for (size_t i = 0; i < m.a.size(); ++i) t.f32()[i] = static_cast<float>(m.a[i]);
  return t;
}

Tensor to_tensor(const std::vector<double>& v, const std::string& name) {
  Tensor t = Tensor::zeros(DType::kF32, {static_cast<int64_t>(v.size())}, name);
  for (size_t i = 0; i < v.size(); ++i) t.f32()[i] = static_cast<float>(v[i]);
  return t;
}

// Accumulates one group's factor into the layer's concatenated down matrix / bias.
struct DownBuilder {
  Mat down;
  std::vector<double> bias;
  bool has_bias = false;
  int row = 0;
  void add(const LowRankFactor& f) {
    down.set_block(row, 0, f.down);
    for (int i = 0; i < f.rank(); ++i) {
      bias[row + i] = f.down_bias.empty() ? 0.0 : f.down_bias[i];
      has_bias |= !f.down_bias.empty();
    }
    row += f.rank();
  }
};

class LayerCompressor {
 public:
  LayerCompressor(const Model& m, const RankPlan& plan, Factoriser factoriser, const CalibrationStats* calib, int l,
                  const Factorizer& fz)
      : m_(m), c_(m.config), plan_(plan), factoriser_(factoriser), calib_(calib), l_(l), fz_(fz) {}

  Status run(std::map<std::string, Tensor>* out) {
    const LayerWeights& w = m_.weights.layers[l_];
    const int64_t hd = c_.head_dim, d = c_.d_model;
    const auto& groups = plan_.layers[l_].groups;
    int64_t rk = 0, rv = 0;
    for (const auto& g : groups) {
      rk += g.rank_k;
      rv += g.rank_v;
    }
    DownBuilder kdown{Mat(rk, d), std::vector<double>(rk)}, vdown{Mat(rv, d), std::vector<double>(rv)};
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const GroupPlan& g = groups[gi];
      const int64_t row0 = g.kv_head_begin * hd, rows = g.n_kv_heads * hd;
      LRKV_ASSIGN_OR_RETURN(Mat wk, weight_rows(w.wk, row0, rows));
      LRKV_ASSIGN_OR_RETURN(Mat wv, weight_rows(w.wv, row0, rows));
      LRKV_ASSIGN_OR_RETURN(LowRankFactor fk, key_factor(wk, row0, rows, g.rank_k));
      LRKV_ASSIGN_OR_RETURN(LowRankFactor fv, value_factor(wv, row0, rows, g.rank_v));
      const int gid = static_cast<int>(gi);
      if (plan_.key_mode == KeyMode::kRebuild) {
        kdown.add(fk);
        (*out)[factor_name(l_, "k_up", gid)] = to_tensor(fk.up, factor_name(l_, "k_up", gid));
      } else {
        (*out)[factor_name(l_, "k_proj", gid)] = to_tensor(fk.up, factor_name(l_, "k_proj", gid));
      }
      vdown.add(fv);
      (*out)[factor_name(l_, "v_up", gid)] = to_tensor(fv.up, factor_name(l_, "v_up", gid));
    }
    if (plan_.key_mode == KeyMode::kRebuild) {
      (*out)[factor_name(l_, "k_down")] = to_tensor(kdown.down, factor_name(l_, "k_down"));
      if (kdown.has_bias) (*out)[factor_name(l_, "k_down_bias")] = to_tensor(kdown.bias, factor_name(l_, "k_down_bias"));
      if (!w.bk.empty()) (*out)[factor_name(l_, "k_up_bias")] = bias_copy(w.bk, factor_name(l_, "k_up_bias"));
    } else {
      const int64_t n = calib_->n_tokens;
      (*out)[factor_name(l_, "k_mean")] = to_tensor(calib_->layers[l_].k_post.mean(n), factor_name(l_, "k_mean"));
    }
    (*out)[factor_name(l_, "v_down")] = to_tensor(vdown.down, factor_name(l_, "v_down"));
    if (vdown.has_bias) (*out)[factor_name(l_, "v_down_bias")] = to_tensor(vdown.bias, factor_name(l_, "v_down_bias"));
    const std::vector<double> v_offset = value_offset();
    if (!v_offset.empty()) (*out)[factor_name(l_, "v_up_bias")] = to_tensor(v_offset, factor_name(l_, "v_up_bias"));
    return Status::Ok();
  }

 private:
  static Tensor bias_copy(const Tensor& b, const std::string& name) {
    Tensor t = b.clone();
    t.set_name(name);
    return t;
  }

  Result<LowRankFactor> key_factor(const Mat& wk, int64_t row0, int64_t rows, int r) {
    if (factoriser_ == Factoriser::kPlainSvd) return fz_.plain_svd(wk, r);
    if (factoriser_ == Factoriser::kWhitenedSvd) return fz_.whitened_svd(wk, calib_->layers[l_].xtx, r);
    // mkv-pca: principal directions of post-RoPE keys of the group.
    const MomentStats& k = calib_->layers[l_].k_post;
    const std::vector<double> mean_all = k.mean(calib_->n_tokens);
    return fz_.pca(k.covariance(calib_->n_tokens, row0, rows),
                   std::vector<double>(mean_all.begin() + row0, mean_all.begin() + row0 + rows), r, Mat());
  }

  Result<LowRankFactor> value_factor(const Mat& wv, int64_t row0, int64_t rows, int r) {
    if (factoriser_ == Factoriser::kPlainSvd) return fz_.plain_svd(wv, r);
    if (factoriser_ == Factoriser::kWhitenedSvd) return fz_.whitened_svd(wv, calib_->layers[l_].xtx, r);
    const MomentStats& v = calib_->layers[l_].v;
    const std::vector<double> mean_all = v.mean(calib_->n_tokens);
    std::vector<double> mean(mean_all.begin() + row0, mean_all.begin() + row0 + rows);
    LRKV_ASSIGN_OR_RETURN(LowRankFactor f, fz_.pca(v.covariance(calib_->n_tokens, row0, rows), mean, r, wv));
    // v = W x + b: the latent Pᵀ(v - mu) = Pᵀ W x + Pᵀ (b - mu); pca_factor added -Pᵀ mu.
    const Tensor& b = m_.weights.layers[l_].bv;
    if (!b.empty()) {
      for (int j = 0; j < r; ++j) {
        for (int64_t i = 0; i < rows; ++i) f.down_bias[j] += f.up(i, j) * b.f32()[row0 + i];
      }
    }
    return f;
  }

  // Offset added to rebuilt values: the PCA mean (mkv-pca) or the original bias (SVD methods).
  std::vector<double> value_offset() const {
    if (factoriser_ == Factoriser::kActivationPca) return calib_->layers[l_].v.mean(calib_->n_tokens);
    const Tensor& b = m_.weights.layers[l_].bv;
    if (b.empty()) return {};
    return std::vector<double>(b.f32(), b.f32() + b.numel());
  }

  const Model& m_;
  const LlamaConfig& c_;
  const RankPlan& plan_;
  Factoriser factoriser_;
  const CalibrationStats* calib_;
  int l_;
  const Factorizer& fz_;
};

// `base` is already compressed (e.g. a full-rank `lrkv tune` model, method "mkv"): its ordered
// factors are reused, truncated to `plan` (same method and groups, ranks not above the model's).
Result<Model> truncate_compressed_model(const Model& base, const RankPlan& plan) {
  LRKV_ASSIGN_OR_RETURN(RankPlan have, model_rank_plan(base));
  if (have.method != plan.method) {
    return make_error(ErrorCode::kInvalidArgument, "{} is already compressed with {}, not {}", base.source_path,
                      have.method, plan.method);
  }
  return truncate_to_plan(base, plan);
}

}  // namespace

Result<Model> compress_model(const Model& base, const RankPlan& plan, const CalibrationStats* calib,
                             const Factorizer& factorizer) {
  LRKV_RETURN_IF_ERROR(plan.validate(base.config, "rank plan"));
  if (base.compressed()) return truncate_compressed_model(base, plan);
  LRKV_ASSIGN_OR_RETURN(const MethodDesc* method, find_method(plan.method));
  if (!method->low_rank || !method->from_dense) {
    return make_error(ErrorCode::kInvalidArgument, "method '{}' does not compress a dense model here: expected one of {}",
                      plan.method, method_names([](const MethodDesc& m) { return m.low_rank && m.from_dense; }));
  }
  if (method->needs_calibration && calib == nullptr) {
    return make_error(ErrorCode::kInvalidArgument, "method '{}' needs calibration statistics (--calib or --text)",
                      plan.method);
  }
  if (calib) LRKV_RETURN_IF_ERROR(check_calibration_matches(*calib, base.config, "calibration"));
  Model out;
  out.config = base.config;
  out.weights = base.weights;  // tensors share storage with the base model
  out.source_path = base.source_path;
  out.source_format = base.source_format;
  out.extra_tensors = base.extra_tensors;
  out.extra_metadata = base.extra_metadata;
  if (base.tokenizer) {
    LRKV_ASSIGN_OR_RETURN(out.tokenizer, make_tokenizer(base.tokenizer->vocab()));
  }
  Progress progress("compress", base.config.n_layer, "layer");
  for (int l = 0; l < base.config.n_layer; ++l) {
    LayerCompressor lc(base, plan, method->factoriser, calib, l, factorizer);
    Status s = lc.run(&out.extra_tensors);
    if (!s.ok()) return s.with_context(fmt::format("layer {}", l));
    progress.add(1);
  }
  progress.finish();
  CompressedAttention& c = out.compression.emplace();
  c.plan = plan;
  c.provenance["version"] = std::string("1");  // std::string: GCC 12 reports a false -Wrestrict for const char*
  if (calib) {
    c.provenance["calibration"] = nlohmann::json({{"text", calib->text}, {"n_tokens", calib->n_tokens}}).dump();
  }
  return out;
}

}  // namespace lrkv
