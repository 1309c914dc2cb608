#include "reference_forward.h"

#include <cmath>

#include "kernels/elem.h"

namespace lrkv::test {

namespace {

using Mat = std::vector<double>;  // row-major

double w_at(const Tensor& t, int64_t i) { return load_elem(t.data(), t.dtype(), i); }

// y[T, out] = x[T, in] · Wᵀ (+ b)
Mat linear(const Mat& x, int64_t T, const Tensor& w, const Tensor& b) {
  const int64_t out = w.dim(0), in = w.dim(1);
  Mat y(T * out, 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : b.f32()[o];
      for (int64_t i = 0; i < in; ++i) s += x[t * in + i] * w_at(w, o * in + i);
      y[t * out + o] = s;
    }
  }
  return y;
}

Mat rmsnorm(const Mat& x, int64_t T, const Tensor& g, double eps) {
  const int64_t d = g.dim(0);
  Mat y(x.size());
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += x[t * d + i] * x[t * d + i];
    const double r = 1.0 / std::sqrt(ss / d + eps);
    for (int64_t i = 0; i < d; ++i) y[t * d + i] = x[t * d + i] * r * g.f32()[i];
  }
  return y;
}

// Inverse frequencies from the config, recomputed here in double (llama3 scaling included).
std::vector<double> inv_freqs(const LlamaConfig& c) {
  std::vector<double> f(c.head_dim / 2);
  for (int i = 0; i < c.head_dim / 2; ++i) {
    double v = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
    if (!c.rope_freq_factors.empty()) {
      v /= c.rope_freq_factors[i];
    } else if (c.rope_scaling.llama3) {
      const auto& s = c.rope_scaling;
      const double wl = 2 * M_PI / v, lo = s.original_max_position / s.low_freq_factor,
                   hi = s.original_max_position / s.high_freq_factor;
      if (wl > lo) {
        v /= s.factor;
      } else if (wl >= hi) {
        const double sm = (s.original_max_position / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        v = (1 - sm) * v / s.factor + sm * v;
      }
    }
    f[i] = v;
  }
  return f;
}

void rope(Mat& x, int64_t T, int heads, const LlamaConfig& c, const std::vector<double>& f) {
  const int hd = c.head_dim, half = hd / 2;
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < heads; ++h) {
      double* v = &x[(t * heads + h) * hd];
      for (int i = 0; i < half; ++i) {
        const int a = c.rope_layout == RopeLayout::kInterleaved ? 2 * i : i;
        const int b = c.rope_layout == RopeLayout::kInterleaved ? 2 * i + 1 : i + half;
        const double ang = t * f[i], x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(ang) - x1 * std::sin(ang);
        v[b] = x0 * std::sin(ang) + x1 * std::cos(ang);
      }
    }
  }
}


// Keys/values of a compressed layer reconstructed in fp64 (see the header).
void latent_kv(const Model& m, const LatentLayer& L, int l, const Mat& h, int64_t T, const std::vector<double>& f,
               Mat* k, Mat* v) {
  const LlamaConfig& c = m.config;
  const int64_t kv = c.kv_dim();
  const LayerWeights& w = m.weights.layers[l];
  *k = Mat(T * kv, 0.0);
  *v = Mat(T * kv, 0.0);
  auto rebuild = [&](const Tensor& down, const Tensor& dbias, const std::vector<Tensor>& ups, const Tensor& ubias,
                     bool is_k, Mat* out) {
    const Mat lat = linear(h, T, down, dbias);  // [T, Σ r]
    const int64_t width = down.dim(0);
    for (size_t g = 0; g < L.groups.size(); ++g) {
      const int r = is_k ? L.groups[g].rank_k : L.groups[g].rank_v;
      const int off = is_k ? L.group_lat_k[g] : L.group_lat_v[g];
      const int64_t rows = ups[g].dim(0);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t i = 0; i < rows; ++i) {
          double acc = ubias.empty() ? 0.0 : ubias.f32()[L.group_row_off[g] + i];
          for (int e = 0; e < r; ++e) acc += static_cast<double>(ups[g].f32()[i * r + e]) * lat[t * width + off + e];
          (*out)[t * kv + L.group_row_off[g] + i] = acc;
        }
      }
    }
  };
  Tensor v_up_bias;
  if (auto it = m.extra_tensors.find(factor_name(l, "v_up_bias")); it != m.extra_tensors.end()) v_up_bias = it->second;
  rebuild(L.v_down, L.v_down_bias, L.v_up, v_up_bias, false, v);
  if (L.key_mode == KeyMode::kRebuild) {
    rebuild(L.k_down, L.k_down_bias, L.k_up, L.k_up_bias, true, k);
    rope(*k, T, c.n_kv_head, c, f);
    return;
  }
  Mat kk = linear(h, T, w.wk, w.bk);
  rope(kk, T, c.n_kv_head, c, f);
  for (size_t g = 0; g < L.groups.size(); ++g) {
    const Tensor& P = L.k_proj[g];
    const int64_t rows = P.dim(0), r = P.dim(1), o = L.group_row_off[g];
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> y(rows), c2(r, 0.0);
      for (int64_t i = 0; i < rows; ++i) y[i] = kk[t * kv + o + i] - (L.k_mean.empty() ? 0.0 : L.k_mean.f32()[o + i]);
      for (int64_t e = 0; e < r; ++e) {
        for (int64_t i = 0; i < rows; ++i) c2[e] += P.f32()[i * r + e] * y[i];
      }
      for (int64_t i = 0; i < rows; ++i) {
        double acc = L.k_mean.empty() ? 0.0 : L.k_mean.f32()[o + i];
        for (int64_t e = 0; e < r; ++e) acc += P.f32()[i * r + e] * c2[e];
        (*k)[t * kv + o + i] = acc;
      }
    }
  }
}

std::vector<double> forward_impl(const Model& m, const std::vector<LatentLayer>* latent, const std::vector<int>& tokens);

}  // namespace

std::vector<double> reference_forward(const Model& m, const std::vector<int>& tokens) {
  return forward_impl(m, nullptr, tokens);
}

std::vector<double> reference_forward_latent(const Model& m, const std::vector<LatentLayer>& latent,
                                             const std::vector<int>& tokens) {
  return forward_impl(m, &latent, tokens);
}

namespace {

std::vector<double> forward_impl(const Model& m, const std::vector<LatentLayer>* latent, const std::vector<int>& tokens) {
  const LlamaConfig& c = m.config;
  const int64_t T = static_cast<int64_t>(tokens.size()), d = c.d_model, hd = c.head_dim;
  const auto f = inv_freqs(c);
  Mat x(T * d);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < d; ++i) x[t * d + i] = w_at(m.weights.tok_embd, tokens[t] * d + i);
  }
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = m.weights.layers[l];
    Mat h = rmsnorm(x, T, w.attn_norm, c.norm_eps);
    Mat q = linear(h, T, w.wq, w.bq), k, v;
    rope(q, T, c.n_head, c, f);
    if (latent) {
      latent_kv(m, (*latent)[l], l, h, T, f, &k, &v);
    } else {
      k = linear(h, T, w.wk, w.bk);
      v = linear(h, T, w.wv, w.bv);
      rope(k, T, c.n_kv_head, c, f);
    }
    Mat att(T * c.q_dim(), 0.0);
    const int group = c.n_head / c.n_kv_head;
    for (int64_t t = 0; t < T; ++t) {
      for (int hh = 0; hh < c.n_head; ++hh) {
        const int g = hh / group;
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int i = 0; i < hd; ++i) dot += q[(t * c.n_head + hh) * hd + i] * k[(j * c.n_kv_head + g) * hd + i];
          s[j] = dot / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        double den = 0;
        for (auto& e : s) den += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= t; ++j) {
          for (int i = 0; i < hd; ++i) att[(t * c.n_head + hh) * hd + i] += s[j] / den * v[(j * c.n_kv_head + g) * hd + i];
        }
      }
    }
    Mat o = linear(att, T, w.wo, Tensor());
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    h = rmsnorm(x, T, w.ffn_norm, c.norm_eps);
    Mat g = linear(h, T, w.w_gate, Tensor()), u = linear(h, T, w.w_up, Tensor());
    for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
    Mat dn = linear(g, T, w.w_down, Tensor());
    for (size_t i = 0; i < x.size(); ++i) x[i] += dn[i];
  }
  Mat h = rmsnorm(x, T, m.weights.out_norm, c.norm_eps);
  return linear(h, T, c.tied_embeddings ? m.weights.tok_embd : m.weights.output, Tensor());
}

}  // namespace
}  // namespace lrkv::test
