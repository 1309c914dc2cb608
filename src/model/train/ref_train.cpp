#include "model/train/ref_train.h"

#include <cmath>
#include <numbers>

#include "kernels/elem.h"

namespace lrkv::ref {

namespace {

using Mat = std::vector<double>;  // row-major

double w_at(const Tensor& t, int64_t i) { return load_elem(t.data(), t.dtype(), i); }

// y[T, out] = x[T, in] · Wᵀ (+ b)
Mat linear(const Mat& x, int64_t T, const Tensor& w, const Tensor& b) {
  const int64_t out = w.dim(0), in = w.dim(1);
  std::vector<double> wd(out * in);  // converted once per call (weights may have been perturbed)
  for (int64_t i = 0; i < out * in; ++i) wd[i] = w_at(w, i);
  Mat y(T * out);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : w_at(b, o);
      for (int64_t i = 0; i < in; ++i) s += x[t * in + i] * wd[o * in + i];
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
    for (int64_t i = 0; i < d; ++i) y[t * d + i] = x[t * d + i] * r * w_at(g, i);
  }
  return y;
}

std::vector<double> inv_freqs(const LlamaConfig& c) {
  std::vector<double> f(c.head_dim / 2);
  const RopeScaling& s = c.rope_scaling;
  for (int i = 0; i < c.head_dim / 2; ++i) {
    double v = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
    if (!c.rope_freq_factors.empty()) {
      v /= c.rope_freq_factors[i];
    } else if (s.llama3) {
      const double wl = 2 * std::numbers::pi / v, lo = s.original_max_position / s.low_freq_factor,
                   hi = s.original_max_position / s.high_freq_factor;
      if (wl > lo) {
        v /= s.factor;
      } else if (wl >= hi) {
        const double sm = (s.original_max_position / wl - s.low_freq_factor) /
                          (s.high_freq_factor - s.low_freq_factor);
        v = (1 - sm) * v / s.factor + sm * v;
      }
    }
    f[i] = v;
  }
  return f;
}

void rope(Mat& x, int64_t T, int heads, const LlamaConfig& c, const std::vector<double>& f) {
  const int hd = c.head_dim, half = hd / 2;
  const bool il = c.rope_layout == RopeLayout::kInterleaved;
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < heads; ++h) {
      double* v = &x[(t * heads + h) * hd];
      for (int i = 0; i < half; ++i) {
        const int a = il ? 2 * i : i, b = il ? 2 * i + 1 : i + half;
        const double ang = t * f[i], x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(ang) - x1 * std::sin(ang);
        v[b] = x0 * std::sin(ang) + x1 * std::cos(ang);
      }
    }
  }
}

// y[:r] = (x − mu) U[:, :r] for U [hd, hd] row-major (mu may be null).
std::vector<double> project(const double* x, const std::vector<float>& u,
                            const std::vector<float>* mu, int r, int hd) {
  std::vector<double> y(r, 0.0);
  for (int i = 0; i < hd; ++i) {
    const double xi = x[i] - (mu != nullptr ? (*mu)[i] : 0.0);
    for (int c = 0; c < r; ++c) y[c] += xi * u[static_cast<size_t>(i) * hd + c];
  }
  return y;
}

// Causal attention of one sequence, plain or through the projections of `layer`.
Mat attention(const Mat& q, const Mat& k, const Mat& v, int64_t T, const LlamaConfig& c,
              const KvProjections* proj, int layer) {
  const int hd = c.head_dim, group = c.n_head / c.n_kv_head;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  Mat att(T * c.q_dim(), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    for (int h = 0; h < c.n_head; ++h) {
      const int g = h / group;
      const double* qh = &q[(t * c.n_head + h) * hd];
      std::vector<double> s(t + 1), z(hd, 0.0);
      for (int64_t j = 0; j <= t; ++j) {
        const double* kj = &k[(j * c.n_kv_head + g) * hd];
        double dot = 0;
        if (proj == nullptr) {
          for (int i = 0; i < hd; ++i) dot += qh[i] * kj[i];
        } else {
          const KvHeadProjection& p = proj->at(layer, g);
          const auto qp = project(qh, p.u_k, nullptr, p.rank_k, hd);
          const auto kp = project(kj, p.u_k, &p.mu_k, p.rank_k, hd);
          for (int i = 0; i < p.rank_k; ++i) dot += qp[i] * kp[i];
          for (int i = 0; i < hd; ++i) dot += qh[i] * p.mu_k[i];
        }
        s[j] = dot * scale;
      }
      double mx = -1e300, den = 0;
      for (double e : s) mx = std::max(mx, e);
      for (auto& e : s) den += (e = std::exp(e - mx));
      for (int64_t j = 0; j <= t; ++j) {
        const double* vj = &v[(j * c.n_kv_head + g) * hd];
        if (proj == nullptr) {
          for (int i = 0; i < hd; ++i) z[i] += s[j] / den * vj[i];
        } else {
          const KvHeadProjection& p = proj->at(layer, g);
          const auto vp =
              project(vj, p.u_v, &p.mu_v, p.rank_v, hd);  // z holds Σ P v' (rank_v entries)
          for (int i = 0; i < p.rank_v; ++i) z[i] += s[j] / den * vp[i];
        }
      }
      double* out = &att[(t * c.n_head + h) * hd];
      if (proj == nullptr) {
        for (int i = 0; i < hd; ++i) out[i] = z[i];
      } else {
        const KvHeadProjection& p = proj->at(layer, g);  // out = z U_V[:, :r]ᵀ + mu_V
        for (int i = 0; i < hd; ++i) {
          double o = p.mu_v[i];
          for (int cc = 0; cc < p.rank_v; ++cc)
            o += z[cc] * p.u_v[static_cast<size_t>(i) * hd + cc];
          out[i] = o;
        }
      }
    }
  }
  return att;
}

Mat seq_logits(const Model& m, const KvProjections* proj, const std::vector<int>& tokens, int seq,
               const RefHookFn& hook) {
  const LlamaConfig& c = m.config;
  const int64_t T = static_cast<int64_t>(tokens.size()), d = c.d_model;
  auto tap = [&](int l, HookPoint p, Mat& x, int64_t cols) {
    if (hook) hook(seq, l, p, x.data(), T, cols);
  };
  const auto f = inv_freqs(c);
  Mat x(T * d);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < d; ++i) x[t * d + i] = w_at(m.weights.tok_embd, tokens[t] * d + i);
  }
  for (int l = 0; l < c.n_layer; ++l) {
    const LayerWeights& w = m.weights.layers[l];
    tap(l, HookPoint::kAttnInput, x, d);
    Mat h = rmsnorm(x, T, w.attn_norm, c.norm_eps);
    tap(l, HookPoint::kKvInput, h, d);
    Mat q = linear(h, T, w.wq, w.bq), k = linear(h, T, w.wk, w.bk), v = linear(h, T, w.wv, w.bv);
    tap(l, HookPoint::kQPreRope, q, c.q_dim());
    rope(q, T, c.n_head, c, f);
    tap(l, HookPoint::kQPostRope, q, c.q_dim());
    tap(l, HookPoint::kKPreRope, k, c.kv_dim());
    tap(l, HookPoint::kV, v, c.kv_dim());
    rope(k, T, c.n_kv_head, c, f);
    tap(l, HookPoint::kKPostRope, k, c.kv_dim());
    Mat att = attention(q, k, v, T, c, proj, l);
    tap(l, HookPoint::kAttnOutput, att, c.q_dim());
    Mat o = linear(att, T, w.wo, Tensor());
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    h = rmsnorm(x, T, w.ffn_norm, c.norm_eps);
    tap(l, HookPoint::kFfnInput, h, d);
    Mat g = linear(h, T, w.w_gate, Tensor()), u = linear(h, T, w.w_up, Tensor());
    for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
    Mat dn = linear(g, T, w.w_down, Tensor());
    for (size_t i = 0; i < x.size(); ++i) x[i] += dn[i];
  }
  Mat h = rmsnorm(x, T, m.weights.out_norm, c.norm_eps);
  tap(-1, HookPoint::kFinalHidden, h, d);
  return linear(h, T, c.tied_embeddings ? m.weights.tok_embd : m.weights.output, Tensor());
}

double log_sum_exp(const double* x, int64_t n) {
  double mx = -1e300, s = 0;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - mx);
  return mx + std::log(s);
}

}  // namespace

std::vector<double> train_logits(const Model& model, const KvProjections* proj,
                                 const TokenBatch& batch, const RefHookFn& hook) {
  std::vector<double> out;
  for (size_t s = 0; s < batch.size(); ++s) {
    const Mat l = seq_logits(model, proj, batch[s], static_cast<int>(s), hook);
    out.insert(out.end(), l.begin(), l.end());
  }
  return out;
}

double train_loss(const std::vector<double>& logits, const TokenBatch& batch, int64_t V,
                  const LossOptions& o) {
  double ce = 0, kl = 0;
  int64_t n_ce = 0, n_kl = 0, t = 0;
  for (const auto& seq : batch) {
    for (size_t i = 0; i < seq.size(); ++i, ++t) {
      if (o.mask != nullptr && (*o.mask)[t] == 0) continue;
      const double* x = &logits[t * V];
      const double lse = log_sum_exp(x, V);
      if (o.ce_weight > 0 && i + 1 < seq.size()) {
        ce += lse - x[seq[i + 1]];
        ++n_ce;
      }
      if (o.kl_weight > 0) {
        std::vector<double> tx(o.teacher + t * V, o.teacher + (t + 1) * V);
        const double tlse = log_sum_exp(tx.data(), V);
        for (int64_t v = 0; v < V; ++v)
          kl += std::exp(tx[v] - tlse) * ((tx[v] - tlse) - (x[v] - lse));
        ++n_kl;
      }
    }
  }
  return (n_ce > 0 ? o.ce_weight * ce / n_ce : 0.0) + (n_kl > 0 ? o.kl_weight * kl / n_kl : 0.0);
}

}  // namespace lrkv::ref
