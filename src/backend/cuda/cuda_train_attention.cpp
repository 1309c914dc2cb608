// CudaTrainGraph's attention block, forward and backward, with the optional MatryoshkaKV
// projections (model/train/kv_projection.h) in the padded layout described in
// cuda_train_graph.h. Per sequence of n rows (rows b..b+n) and query head h = g·group + j:
//   S_h = scale·Q_h K_gᵀ  (batched over g for each j)   P_h = causal_softmax(S_h)   Z_h = P_h V_g
// backward:  dP_h = dZ_h V_gᵀ;  dS_h = P_h ⊙ (dP_h − rowsum(dZ_h ⊙ Z_h));
//            dQ_h = scale·dS_h K_g;  dK_g = scale·Σ_j dS_hᵀ Q_h;  dV_g = Σ_j P_hᵀ dZ_h.
#include <cmath>
#include <tuple>
#include <utility>

#include "backend/cuda/cuda_train_graph.h"
#include "backend/cuda/cuda_train_graph_impl.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/train_kernels.h"

namespace lrkv::cuda {

#define LRKV_BUF(var, buf, n) LRKV_ASSIGN_OR_RETURN(float* var, ensure_floats(buf, n))

namespace {

float attn_scale(const LlamaConfig& c) { return 1.0f / std::sqrt(static_cast<float>(c.head_dim)); }

Status upload(DeviceBuffer& buf, const std::vector<float>& host, cudaStream_t st) {
  LRKV_BUF(p, buf, static_cast<int64_t>(host.size()));
  return cuda_status(cudaMemcpyAsync(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice, st),
                     "upload projections");
}

}  // namespace

// Masked U (columns >= rank zero) and means of every layer, uploaded before a forward.
Status CudaTrainGraph::upload_projections() {
  const int L = cfg_.n_layer, kv = cfg_.n_kv_head, hd = cfg_.head_dim, group = cfg_.n_head / kv;
  const size_t hd2 = static_cast<size_t>(hd) * hd;
  std::vector<float> uk(L * kv * hd2, 0.0f), uv(L * kv * hd2, 0.0f), mk(size_t(L) * kv * hd), mv(mk.size()),
      mvq(size_t(L) * cfg_.n_head * hd);
  for (int l = 0; l < L; ++l) {
    for (int g = 0; g < kv; ++g) {
      const KvHeadProjection& p = proj_->at(l, g);
      const size_t o = (size_t(l) * kv + g) * hd2;
      for (int r = 0; r < hd; ++r) {
        for (int c = 0; c < p.rank_k; ++c) uk[o + r * hd + c] = p.u_k[r * hd + c];
        for (int c = 0; c < p.rank_v; ++c) uv[o + r * hd + c] = p.u_v[r * hd + c];
      }
      std::copy(p.mu_k.begin(), p.mu_k.end(), mk.begin() + (size_t(l) * kv + g) * hd);
      std::copy(p.mu_v.begin(), p.mu_v.end(), mv.begin() + (size_t(l) * kv + g) * hd);
      for (int j = 0; j < group; ++j)
        std::copy(p.mu_v.begin(), p.mu_v.end(), mvq.begin() + (size_t(l) * cfg_.n_head + g * group + j) * hd);
    }
  }
  const cudaStream_t st = ctx_->stream();
  LRKV_RETURN_IF_ERROR(upload(m_->u_k, uk, st));
  LRKV_RETURN_IF_ERROR(upload(m_->u_v, uv, st));
  LRKV_RETURN_IF_ERROR(upload(m_->mu_k, mk, st));
  LRKV_RETURN_IF_ERROR(upload(m_->mu_v, mv, st));
  LRKV_RETURN_IF_ERROR(upload(m_->mu_vq, mvq, st));
  // Pageable sources: the copies above completed before returning, so the vectors may go.
  return Status::Ok();
}

Status CudaTrainGraph::download_projection_grads(Gradients* grads) {
  const int L = cfg_.n_layer, kv = cfg_.n_kv_head, hd = cfg_.head_dim, group = cfg_.n_head / kv;
  const size_t hd2 = static_cast<size_t>(hd) * hd;
  std::vector<float> uk(L * kv * hd2), uv(uk.size()), mk(size_t(L) * kv * hd), mv(mk.size()),
      mvq(size_t(L) * cfg_.n_head * hd);
  const cudaStream_t st = ctx_->stream();
  auto down = [&](std::vector<float>& h, const DeviceBuffer& d) {
    return cuda_status(cudaMemcpyAsync(h.data(), d.data(), h.size() * sizeof(float), cudaMemcpyDeviceToHost, st),
                       "download projection gradients");
  };
  LRKV_RETURN_IF_ERROR(down(uk, m_->du_k));
  LRKV_RETURN_IF_ERROR(down(uv, m_->du_v));
  LRKV_RETURN_IF_ERROR(down(mk, m_->dmu_k));
  LRKV_RETURN_IF_ERROR(down(mv, m_->dmu_v));
  LRKV_RETURN_IF_ERROR(down(mvq, m_->dmu_vq));
  LRKV_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(st), "projection gradients");
  for (int l = 0; l < L; ++l) {
    for (int g = 0; g < kv; ++g) {
      const KvHeadProjection& p = proj_->at(l, g);
      KvHeadProjection& d = grads->projections.at(l, g);
      const size_t o = (size_t(l) * kv + g) * hd2;
      for (int r = 0; r < hd; ++r) {  // columns beyond the rank stay zero, as on the CPU
        for (int c = 0; c < p.rank_k; ++c) d.u_k[r * hd + c] = uk[o + r * hd + c];
        for (int c = 0; c < p.rank_v; ++c) d.u_v[r * hd + c] = uv[o + r * hd + c];
      }
      for (int i = 0; i < hd; ++i) {
        d.mu_k[i] = mk[(size_t(l) * kv + g) * hd + i];
        float s = mv[(size_t(l) * kv + g) * hd + i];
        for (int j = 0; j < group; ++j) s += mvq[(size_t(l) * cfg_.n_head + g * group + j) * hd + i];
        d.mu_v[i] = s;
      }
    }
  }
  return Status::Ok();
}

// z [T, q_dim] = attention(q [T, q_dim], k, v [T, kv_dim]) per sequence, dense head slices.
Status CudaTrainGraph::attention_core_forward(const float* q, const float* k, const float* v, float* z) {
  const int64_t hd = cfg_.head_dim, H = cfg_.n_head, kv = cfg_.n_kv_head, group = H / kv;
  const int64_t qd = H * hd, kvd = kv * hd;
  LRKV_BUF(S, m_->scores, H * n_max_ * n_max_);
  for (const SeqRange& s : seqs_) {
    const int64_t b = s.begin, n = s.n, nn = n * n;
    for (int64_t j = 0; j < group; ++j) {  // S_h = scale·Q_h K_gᵀ, h = g·group + j
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, true, n, n, hd, attn_scale(cfg_), q + b * qd + j * hd, qd,
                                      k + b * kvd, kvd, 0.0f, S + j * nn, n, kv, group * hd, hd, group * nn));
    }
    LRKV_CUDA_RETURN_IF_ERROR(launch_causal_softmax(S, H, n, ctx_->stream()), "causal softmax");
    for (int64_t j = 0; j < group; ++j) {  // Z_h = P_h V_g
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, false, n, hd, n, 1.0f, S + j * nn, n, v + b * kvd, kvd, 0.0f,
                                      z + b * qd + j * hd, qd, kv, group * nn, hd, group * hd));
    }
  }
  return Status::Ok();
}

Status CudaTrainGraph::attention_core_backward(const float* q, const float* k, const float* v, const float* z,
                                               const float* dz, float* dq, float* dk, float* dv) {
  const int64_t hd = cfg_.head_dim, H = cfg_.n_head, kv = cfg_.n_kv_head, group = H / kv;
  const int64_t qd = H * hd, kvd = kv * hd;
  const float scale = attn_scale(cfg_);
  const cudaStream_t st = ctx_->stream();
  LRKV_BUF(S, m_->scores, H * n_max_ * n_max_);
  LRKV_BUF(dS, m_->dscores, H * n_max_ * n_max_);
  LRKV_BUF(D, m_->rowdots, H * n_max_);
  for (const SeqRange& s : seqs_) {
    const int64_t b = s.begin, n = s.n, nn = n * n;
    for (int64_t j = 0; j < group; ++j) {  // recompute P
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, true, n, n, hd, scale, q + b * qd + j * hd, qd, k + b * kvd, kvd, 0.0f,
                                      S + j * nn, n, kv, group * hd, hd, group * nn));
    }
    LRKV_CUDA_RETURN_IF_ERROR(launch_causal_softmax(S, H, n, st), "causal softmax");
    LRKV_CUDA_RETURN_IF_ERROR(launch_head_row_dots(dz + b * qd, z + b * qd, qd, n, static_cast<int>(H),
                                                   static_cast<int>(hd), D, st),
                              "attention row dots");
    for (int64_t j = 0; j < group; ++j) {  // dP_h = dZ_h V_gᵀ
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, true, n, n, hd, 1.0f, dz + b * qd + j * hd, qd, v + b * kvd, kvd, 0.0f,
                                      dS + j * nn, n, kv, group * hd, hd, group * nn));
    }
    LRKV_CUDA_RETURN_IF_ERROR(launch_softmax_backward(S, dS, D, H, n, st), "softmax backward");
    for (int64_t j = 0; j < group; ++j) {
      const float beta = j == 0 ? 0.0f : 1.0f;
      // dQ_h = scale·dS_h K_g
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, false, n, hd, n, scale, dS + j * nn, n, k + b * kvd, kvd, 0.0f,
                                      dq + b * qd + j * hd, qd, kv, group * nn, hd, group * hd));
      // dK_g (+)= scale·dS_hᵀ Q_h
      LRKV_RETURN_IF_ERROR(ctx_->gemm(true, false, n, hd, n, scale, dS + j * nn, n, q + b * qd + j * hd, qd, beta,
                                      dk + b * kvd, kvd, kv, group * nn, group * hd, hd));
      // dV_g (+)= P_hᵀ dZ_h
      LRKV_RETURN_IF_ERROR(ctx_->gemm(true, false, n, hd, n, 1.0f, S + j * nn, n, dz + b * qd + j * hd, qd, beta,
                                      dv + b * kvd, kvd, kv, group * nn, group * hd, hd));
    }
  }
  return Status::Ok();
}

Status CudaTrainGraph::attention_forward(int l) {
  const TrainLayerWeights& w = w_->ptr.layers[l];
  Impl::Layer& A = m_->layer(l);
  const int64_t d = cfg_.d_model, hd = cfg_.head_dim, H = cfg_.n_head, kv = cfg_.n_kv_head, group = H / kv;
  const int64_t qd = H * hd, kvd = kv * hd, hd2 = hd * hd;
  const cudaStream_t st = ctx_->stream();
  const int* pos = m_->pos.as<int>();
  const float* inv_freq = m_->inv_freq.as<float>();
  const bool half = cfg_.rope_layout == RopeLayout::kHalfSplit;
  float* x = m_->x.as<float>();
  LRKV_BUF(ax, A.x, T_ * d);
  LRKV_BUF(rstd1, A.rstd1, T_);
  LRKV_BUF(h1, A.h1, T_ * d);
  LRKV_BUF(q, A.q, T_ * qd);
  LRKV_BUF(k, A.k, T_ * kvd);
  LRKV_BUF(v, A.v, T_ * kvd);
  LRKV_BUF(att, A.att, T_ * qd);
  LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ax, x, T_ * d * sizeof(float), cudaMemcpyDeviceToDevice, st), "copy");
  LRKV_CUDA_RETURN_IF_ERROR(launch_rmsnorm_rstd(ax, w.attn_norm, T_, d, cfg_.norm_eps, h1, rstd1, st), "rmsnorm");
  LRKV_RETURN_IF_ERROR(ctx_->linear(h1, T_, w.wq, qd, d, q, false));
  LRKV_RETURN_IF_ERROR(ctx_->linear(h1, T_, w.wk, kvd, d, k, false));
  LRKV_RETURN_IF_ERROR(ctx_->linear(h1, T_, w.wv, kvd, d, v, false));
  if (w.bq) LRKV_CUDA_RETURN_IF_ERROR(launch_add_row_vector(q, qd, T_, qd, w.bq, 1.0f, st), "bias");
  if (w.bk) LRKV_CUDA_RETURN_IF_ERROR(launch_add_row_vector(k, kvd, T_, kvd, w.bk, 1.0f, st), "bias");
  if (w.bv) LRKV_CUDA_RETURN_IF_ERROR(launch_add_row_vector(v, kvd, T_, kvd, w.bv, 1.0f, st), "bias");
  LRKV_CUDA_RETURN_IF_ERROR(launch_rope(q, T_, qd, H, hd, pos, inv_freq, half, false, st), "rope");
  LRKV_CUDA_RETURN_IF_ERROR(launch_rope(k, T_, kvd, kv, hd, pos, inv_freq, half, false, st), "rope");
  if (proj_ == nullptr) {
    LRKV_RETURN_IF_ERROR(attention_core_forward(q, k, v, att));
  } else {
    LRKV_BUF(qa, A.qa, T_ * qd);
    LRKV_BUF(ka, A.ka, T_ * kvd);
    LRKV_BUF(va, A.va, T_ * kvd);
    LRKV_BUF(za, A.za, T_ * qd);
    LRKV_BUF(c, m_->centred, T_ * kvd);
    const float* uk = m_->u_k.as<float>() + l * kv * hd2;
    const float* uv = m_->u_v.as<float>() + l * kv * hd2;
    // ka_g = (k_g − mu_K) Ũ_K,g ; va_g = (v_g − mu_V) Ũ_V,g  (batched over g)
    for (auto [src, mu, u, dst] : {std::tuple{k, m_->mu_k.as<float>(), uk, ka}, std::tuple{v, m_->mu_v.as<float>(), uv, va}}) {
      LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(c, src, T_ * kvd * sizeof(float), cudaMemcpyDeviceToDevice, st), "copy");
      LRKV_CUDA_RETURN_IF_ERROR(launch_add_row_vector(c, kvd, T_, kvd, mu + l * kvd, -1.0f, st), "centre");
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, false, T_, hd, hd, 1.0f, c, kvd, u, hd, 0.0f, dst, kvd, kv, hd, hd2, hd));
    }
    for (int64_t j = 0; j < group; ++j) {  // qa_h = q_h Ũ_K,g
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, false, T_, hd, hd, 1.0f, q + j * hd, qd, uk, hd, 0.0f, qa + j * hd, qd,
                                      kv, group * hd, hd2, group * hd));
    }
    LRKV_RETURN_IF_ERROR(attention_core_forward(qa, ka, va, za));
    for (int64_t j = 0; j < group; ++j) {  // att_h = za_h Ũ_V,gᵀ (+ mu_V below)
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, true, T_, hd, hd, 1.0f, za + j * hd, qd, uv, hd, 0.0f, att + j * hd, qd,
                                      kv, group * hd, hd2, group * hd));
    }
    LRKV_CUDA_RETURN_IF_ERROR(launch_add_row_vector(att, qd, T_, qd, m_->mu_vq.as<float>() + l * qd, 1.0f, st),
                              "mean");
  }
  return ctx_->linear(att, T_, w.wo, d, qd, x, /*accumulate=*/true);
}

// In: dx = dL/d(residual after attention). Out: dx = dL/d(residual entering the layer).
Status CudaTrainGraph::attention_backward(int l, const BackwardOptions& o, Gradients* grads) {
  const TrainLayerWeights& w = w_->ptr.layers[l];
  Impl::Layer& A = m_->layer(l);
  const int64_t d = cfg_.d_model, hd = cfg_.head_dim, H = cfg_.n_head, kv = cfg_.n_kv_head, group = H / kv;
  const int64_t qd = H * hd, kvd = kv * hd, hd2 = hd * hd;
  const cudaStream_t st = ctx_->stream();
  const int* pos = m_->pos.as<int>();
  const float* inv_freq = m_->inv_freq.as<float>();
  const bool half = cfg_.rope_layout == RopeLayout::kHalfSplit;
  float* dx = m_->dx.as<float>();
  const float *q = A.q.as<float>(), *k = A.k.as<float>(), *v = A.v.as<float>(), *h1 = A.h1.as<float>();
  LRKV_BUF(datt, m_->datt, T_ * qd);
  LRKV_BUF(dq, m_->dq, T_ * qd);
  LRKV_BUF(dk, m_->dk, T_ * kvd);
  LRKV_BUF(dv, m_->dv, T_ * kvd);
  LRKV_BUF(dh, m_->dh, T_ * d);
  LayerGradients& lg = grads->layers[l];
  auto weight_grad = [&](const float* dy, const float* xin, int64_t n, int64_t kk, std::vector<float>* out) -> Status {
    LRKV_BUF(gw, m_->gw, n * kk);
    LRKV_RETURN_IF_ERROR(ctx_->linear_dw(dy, xin, T_, n, kk, gw));
    out->resize(static_cast<size_t>(n * kk));
    LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out->data(), gw, out->size() * sizeof(float), cudaMemcpyDeviceToHost, st),
                              "download weight gradient");
    return cuda_status(cudaStreamSynchronize(st), "weight gradient");
  };
  auto bias_grad = [&](const float* dy, int64_t n, std::vector<float>* out) -> Status {
    LRKV_BUF(gw, m_->gw, n);
    LRKV_CUDA_RETURN_IF_ERROR(launch_col_sums(dy, n, T_, n, 1.0f, gw, false, st), "bias gradient");
    out->resize(static_cast<size_t>(n));
    LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out->data(), gw, n * sizeof(float), cudaMemcpyDeviceToHost, st),
                              "download bias gradient");
    return cuda_status(cudaStreamSynchronize(st), "bias gradient");
  };
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(dx, T_, w.wo, d, qd, datt, false));  // [T, q_dim]
  if (o.qo_weights) LRKV_RETURN_IF_ERROR(weight_grad(dx, A.att.as<float>(), d, qd, &lg.wo));
  if (proj_ == nullptr) {
    LRKV_RETURN_IF_ERROR(attention_core_backward(q, k, v, A.att.as<float>(), datt, dq, dk, dv));
  } else {
    LRKV_BUF(dqa, m_->dqa, T_ * qd);
    LRKV_BUF(dka, m_->dka, T_ * kvd);
    LRKV_BUF(dva, m_->dva, T_ * kvd);
    LRKV_BUF(dza, m_->dza, T_ * qd);
    LRKV_BUF(c, m_->centred, T_ * kvd);
    const int64_t L = cfg_.n_layer;
    LRKV_BUF(duk_all, m_->du_k, L * kv * hd2);
    LRKV_BUF(duv_all, m_->du_v, L * kv * hd2);
    LRKV_BUF(dmk_all, m_->dmu_k, L * kvd);
    LRKV_BUF(dmv_all, m_->dmu_v, L * kvd);
    LRKV_BUF(dmvq_all, m_->dmu_vq, L * qd);
    if (l == L - 1) {  // first layer of the backward: zero the accumulators
      for (auto [p, n] : {std::pair{duk_all, L * kv * hd2}, std::pair{duv_all, L * kv * hd2},
                          std::pair{dmk_all, L * kvd}, std::pair{dmv_all, L * kvd}, std::pair{dmvq_all, L * qd}}) {
        LRKV_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(p, 0, n * sizeof(float), st), "memset");
      }
    }
    const float* uk = m_->u_k.as<float>() + l * kv * hd2;
    const float* uv = m_->u_v.as<float>() + l * kv * hd2;
    float* duk = duk_all + l * kv * hd2;
    float* duv = duv_all + l * kv * hd2;
    const float* za = A.za.as<float>();
    // Output: dza_h = datt_h Ũ_V,g;  dU_V,g += datt_hᵀ za_h;  dmu_V (per query head) = Σ_t datt_h
    for (int64_t j = 0; j < group; ++j) {
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, false, T_, hd, hd, 1.0f, datt + j * hd, qd, uv, hd, 0.0f, dza + j * hd,
                                      qd, kv, group * hd, hd2, group * hd));
      LRKV_RETURN_IF_ERROR(ctx_->gemm(true, false, hd, hd, T_, 1.0f, datt + j * hd, qd, za + j * hd, qd, 1.0f, duv, hd,
                                      kv, group * hd, group * hd, hd2));
    }
    LRKV_CUDA_RETURN_IF_ERROR(launch_col_sums(datt, qd, T_, qd, 1.0f, dmvq_all + l * qd, false, st), "mean gradient");
    LRKV_RETURN_IF_ERROR(attention_core_backward(A.qa.as<float>(), A.ka.as<float>(), A.va.as<float>(), za, dza, dqa,
                                                 dka, dva));
    // Inputs: dk_g = dka_g Ũ_K,gᵀ;  dU_K,g += (k_g − mu_K)ᵀ dka_g;  dmu_K −= Σ_t dk_g (same for v)
    struct Side {
      const float* x;
      const float* mu;
      const float* u;
      const float* da;
      float* dxo;
      float* du;
      float* dmu;
    };
    for (const Side& sd : {Side{k, m_->mu_k.as<float>() + l * kvd, uk, dka, dk, duk, dmk_all + l * kvd},
                           Side{v, m_->mu_v.as<float>() + l * kvd, uv, dva, dv, duv, dmv_all + l * kvd}}) {
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, true, T_, hd, hd, 1.0f, sd.da, kvd, sd.u, hd, 0.0f, sd.dxo, kvd, kv, hd,
                                      hd2, hd));
      LRKV_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(c, sd.x, T_ * kvd * sizeof(float), cudaMemcpyDeviceToDevice, st), "copy");
      LRKV_CUDA_RETURN_IF_ERROR(launch_add_row_vector(c, kvd, T_, kvd, sd.mu, -1.0f, st), "centre");
      LRKV_RETURN_IF_ERROR(ctx_->gemm(true, false, hd, hd, T_, 1.0f, c, kvd, sd.da, kvd, 1.0f, sd.du, hd, kv, hd, hd,
                                      hd2));
      LRKV_CUDA_RETURN_IF_ERROR(launch_col_sums(sd.dxo, kvd, T_, kvd, -1.0f, sd.dmu, true, st), "mean gradient");
    }
    // Queries: dq_h = dqa_h Ũ_K,gᵀ;  dU_K,g += q_hᵀ dqa_h
    for (int64_t j = 0; j < group; ++j) {
      LRKV_RETURN_IF_ERROR(ctx_->gemm(false, true, T_, hd, hd, 1.0f, dqa + j * hd, qd, uk, hd, 0.0f, dq + j * hd, qd,
                                      kv, group * hd, hd2, group * hd));
      LRKV_RETURN_IF_ERROR(ctx_->gemm(true, false, hd, hd, T_, 1.0f, q + j * hd, qd, dqa + j * hd, qd, 1.0f, duk, hd,
                                      kv, group * hd, group * hd, hd2));
    }
  }
  LRKV_CUDA_RETURN_IF_ERROR(launch_rope(dq, T_, qd, H, hd, pos, inv_freq, half, true, st), "rope backward");
  LRKV_CUDA_RETURN_IF_ERROR(launch_rope(dk, T_, kvd, kv, hd, pos, inv_freq, half, true, st), "rope backward");
  if (o.kv_weights) {
    LRKV_RETURN_IF_ERROR(weight_grad(dk, h1, kvd, d, &lg.wk));
    LRKV_RETURN_IF_ERROR(weight_grad(dv, h1, kvd, d, &lg.wv));
    if (cfg_.qkv_bias && w.bk) LRKV_RETURN_IF_ERROR(bias_grad(dk, kvd, &lg.bk));
    if (cfg_.qkv_bias && w.bv) LRKV_RETURN_IF_ERROR(bias_grad(dv, kvd, &lg.bv));
  }
  if (o.qo_weights) {
    LRKV_RETURN_IF_ERROR(weight_grad(dq, h1, qd, d, &lg.wq));
    if (cfg_.qkv_bias && w.bq) LRKV_RETURN_IF_ERROR(bias_grad(dq, qd, &lg.bq));
  }
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(dq, T_, w.wq, qd, d, dh, false));  // dL/dh1 = dq Wq + dk Wk + dv Wv
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(dk, T_, w.wk, kvd, d, dh, true));
  LRKV_RETURN_IF_ERROR(ctx_->linear_dx(dv, T_, w.wv, kvd, d, dh, true));
  LRKV_CUDA_RETURN_IF_ERROR(launch_rmsnorm_backward(A.x.as<float>(), w.attn_norm, A.rstd1.as<float>(), dh, T_, d, dx,
                                                    st),
                            "attention rmsnorm backward");
  return Status::Ok();
}

}  // namespace lrkv::cuda
