#include "compress/gqa_merge.h"

#include <complex>

#include "compress/linalg.h"
#include "core/progress.h"

namespace lrkv {

namespace {

using cd = std::complex<double>;

Result<Tensor> as_f32(const Tensor& t) {
  if (t.empty() || t.dtype() == DType::kF32) return t;
  return t.to(DType::kF32);
}

// Index of the two dims of RoPE pair i inside a head.
inline int pair_dim(const LlamaConfig& c, int i, int which) {
  return c.rope_layout == RopeLayout::kInterleaved ? 2 * i + which : i + which * c.head_dim / 2;
}

class LayerMerger {
 public:
  LayerMerger(const Model& base, const CalibrationStats& calib, int g, int l)
      : c_(base.config), calib_(calib), g_(g), l_(l), in_(base.weights.layers[l]) {}

  Status run(LayerWeights* out) {
    LRKV_ASSIGN_OR_RETURN(wq_, as_f32(in_.wq));
    LRKV_ASSIGN_OR_RETURN(wk_, as_f32(in_.wk));
    LRKV_ASSIGN_OR_RETURN(wv_, as_f32(in_.wv));
    LRKV_ASSIGN_OR_RETURN(wo_, as_f32(in_.wo));
    const int64_t d = c_.d_model, hd = c_.head_dim, new_kv = c_.n_kv_head / g_;
    *out = in_;
    out->wq = wq_.clone();
    out->wo = wo_.clone();
    out->wk = Tensor::zeros(DType::kF32, {new_kv * hd, d}, in_.wk.name());
    out->wv = Tensor::zeros(DType::kF32, {new_kv * hd, d}, in_.wv.name());
    if (!in_.bq.empty()) out->bq = in_.bq.clone();
    if (!in_.bk.empty()) out->bk = Tensor::zeros(DType::kF32, {new_kv * hd}, in_.bk.name());
    if (!in_.bv.empty()) out->bv = Tensor::zeros(DType::kF32, {new_kv * hd}, in_.bv.name());
    for (int64_t G = 0; G < new_kv; ++G) {
      LRKV_RETURN_IF_ERROR(merge_values(G, out));
      LRKV_RETURN_IF_ERROR(merge_keys(G, out));
    }
    return Status::Ok();
  }

 private:
  // Query heads reading original KV head j.
  std::pair<int, int> query_heads(int j) const { return {j * c_.group_size(), (j + 1) * c_.group_size()}; }

  Status merge_values(int64_t G, LayerWeights* out) {
    const int64_t hd = c_.head_dim, d = c_.d_model, rows = g_ * hd, row0 = G * rows, q = c_.q_dim();
    const MomentStats& m = calib_.layers[l_].v;
    Mat second(rows, rows);  // E[v vᵀ] of the group
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t k = 0; k < rows; ++k) second(i, k) = m.sxx(row0 + i, row0 + k) / calib_.n_tokens;
    }
    LRKV_ASSIGN_OR_RETURN(Eigh e, eigh(second));
    const Mat U = e.V.block(0, rows, 0, hd);  // [g·hd, hd]
    for (int64_t a = 0; a < hd; ++a) {        // W_v' = Uᵀ W_v,G ; b_v' = Uᵀ b_v,G
      float* dst = out->wv.f32() + (G * hd + a) * d;
      for (int64_t r = 0; r < rows; ++r) {
        const double u = U(r, a);
        const float* src = wv_.f32() + (row0 + r) * d;
        for (int64_t x = 0; x < d; ++x) dst[x] += static_cast<float>(u * src[x]);
        if (!in_.bv.empty()) out->bv.f32()[G * hd + a] += static_cast<float>(u * in_.bv.f32()[row0 + r]);
      }
    }
    for (int j = 0; j < g_; ++j) {  // W_o[:, h] ← W_o[:, h] · U[rows of j]
      const auto [h0, h1] = query_heads(static_cast<int>(G) * g_ + j);
      for (int h = h0; h < h1; ++h) {
        for (int64_t i = 0; i < d; ++i) {
          const float* src = wo_.f32() + i * q + h * hd;
          float* dst = out->wo.f32() + i * q + h * hd;
          for (int64_t a = 0; a < hd; ++a) {
            double acc = 0.0;
            for (int64_t e2 = 0; e2 < hd; ++e2) acc += src[e2] * U(j * hd + e2, a);
            dst[a] = static_cast<float>(acc);
          }
        }
      }
    }
    return Status::Ok();
  }

  // Applies the complex scalar s to RoPE pair i of a row block (rows p0, p1 of a weight).
  static void mix_pair(const float* a0, const float* a1, cd s, float* d0, float* d1, int64_t n, bool accumulate) {
    for (int64_t x = 0; x < n; ++x) {
      const double r0 = s.real() * a0[x] - s.imag() * a1[x];
      const double r1 = s.imag() * a0[x] + s.real() * a1[x];
      d0[x] = static_cast<float>(accumulate ? d0[x] + r0 : r0);
      d1[x] = static_cast<float>(accumulate ? d1[x] + r1 : r1);
    }
  }

  Status merge_keys(int64_t G, LayerWeights* out) {
    const int64_t hd = c_.head_dim, d = c_.d_model, half = hd / 2;
    LRKV_ASSIGN_OR_RETURN(auto coef, key_mix_coefficients(calib_, l_, static_cast<int>(G), g_));
    for (int i = 0; i < half; ++i) {
      const int p0 = pair_dim(c_, i, 0), p1 = pair_dim(c_, i, 1);
      for (int j = 0; j < g_; ++j) {
        const cd u = std::conj(coef[i * g_ + j]);  // component j of the top eigenvector
        const int64_t src = (G * g_ + j) * hd, dst = G * hd;
        // New key pair: Σ_j conj(u_j) z_j  (weights and bias).
        mix_pair(wk_.f32() + (src + p0) * d, wk_.f32() + (src + p1) * d, std::conj(u),
                 out->wk.f32() + (dst + p0) * d, out->wk.f32() + (dst + p1) * d, d, j > 0);
        if (!in_.bk.empty()) {
          mix_pair(in_.bk.f32() + src + p0, in_.bk.f32() + src + p1, std::conj(u), out->bk.f32() + dst + p0,
                   out->bk.f32() + dst + p1, 1, j > 0);
        }
        // Queries reading head j: q̃ ← conj(u_j) q̃ so that Re(conj(q̃') z') = Re(conj(q̃) u_j z').
        const auto [h0, h1] = query_heads(static_cast<int>(G) * g_ + j);
        for (int h = h0; h < h1; ++h) {
          const int64_t qr = int64_t{h} * hd;
          mix_pair(wq_.f32() + (qr + p0) * d, wq_.f32() + (qr + p1) * d, std::conj(u), out->wq.f32() + (qr + p0) * d,
                   out->wq.f32() + (qr + p1) * d, d, false);
          if (!in_.bq.empty()) {
            mix_pair(in_.bq.f32() + qr + p0, in_.bq.f32() + qr + p1, std::conj(u), out->bq.f32() + qr + p0,
                     out->bq.f32() + qr + p1, 1, false);
          }
        }
      }
    }
    return Status::Ok();
  }

  const LlamaConfig& c_;
  const CalibrationStats& calib_;
  int g_, l_;
  const LayerWeights& in_;
  Tensor wq_, wk_, wv_, wo_;
};

}  // namespace

Result<std::vector<std::complex<double>>> key_mix_coefficients(const CalibrationStats& calib, int layer, int G, int g) {
  const int H = calib.n_kv_head, half = calib.head_dim / 2;
  std::vector<cd> out(static_cast<size_t>(half) * g);
  for (int i = 0; i < half; ++i) {
    std::vector<cd> M(static_cast<size_t>(g) * g);  // E[z zᴴ] of the group's pairs i
    for (int a = 0; a < g; ++a) {
      for (int b = 0; b < g; ++b) M[a * g + b] = calib.layers[layer].k_freq[(i * H + G * g + a) * H + G * g + b];
    }
    LRKV_ASSIGN_OR_RETURN(EighComplex e, eigh_complex(M, g));
    for (int j = 0; j < g; ++j) out[i * g + j] = std::conj(e.V[j * g + 0]);
  }
  return out;
}

Result<Model> merge_kv_heads(const Model& base, const CalibrationStats& calib, int g) {
  const LlamaConfig& c = base.config;
  if (g < 1 || c.n_kv_head % g != 0) {
    return make_error(ErrorCode::kInvalidArgument, "--groups {} must divide the {} KV heads", g, c.n_kv_head);
  }
  LRKV_RETURN_IF_ERROR(check_calibration_matches(calib, c, "calibration"));
  if (base.compressed()) {
    return make_error(ErrorCode::kInvalidArgument, "{} is compressed; merge KV heads of the original model", base.source_path);
  }
  Model out;
  out.config = c;
  out.config.n_kv_head = c.n_kv_head / g;
  out.config.name = c.name + fmt::format("-gqa{}", out.config.n_kv_head);
  out.weights = base.weights;
  out.source_path = base.source_path;
  out.source_format = base.source_format;
  if (base.tokenizer) {
    LRKV_ASSIGN_OR_RETURN(out.tokenizer, make_tokenizer(base.tokenizer->vocab()));
  }
  Progress progress("merge kv heads", c.n_layer, "layer");
  for (int l = 0; l < c.n_layer; ++l) {
    LayerMerger lm(base, calib, g, l);
    Status s = lm.run(&out.weights.layers[l]);
    if (!s.ok()) return s.with_context(fmt::format("layer {}", l));
    progress.add(1);
  }
  LRKV_RETURN_IF_ERROR(validate_weights(out.config, out.weights, "merged model"));
  return out;
}

}  // namespace lrkv
