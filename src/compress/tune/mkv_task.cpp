#include "compress/tune/mkv_task.h"

#include <cmath>

#include "compress/tune/cayley.h"
#include "core/thread_pool.h"

namespace lrkv {

namespace {

// Orthogonal PCA basis of a covariance [hd, hd]: descending, sign-fixed, det = +1.
Result<Mat> pca_basis(const Mat& cov) {
  LRKV_ASSIGN_OR_RETURN(Eigh e, eigh(cov));
  Mat U = e.V;
  const int64_t n = U.rows;
  for (int64_t j = 0; j < n; ++j) {
    int64_t arg = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (std::fabs(U(i, j)) > std::fabs(U(arg, j))) arg = i;
    }
    if (U(arg, j) < 0) {
      for (int64_t i = 0; i < n; ++i) U(i, j) = -U(i, j);
    }
  }
  LRKV_ASSIGN_OR_RETURN(double det, determinant(U));
  if (det < 0) {
    for (int64_t i = 0; i < n; ++i) U(i, n - 1) = -U(i, n - 1);
  }
  return U;
}

void to_float(const Mat& m, std::vector<float>* out) {
  out->resize(m.a.size());
  for (size_t i = 0; i < m.a.size(); ++i) (*out)[i] = static_cast<float>(m.a[i]);
}

Mat to_mat(const std::vector<float>& v, int64_t n) {
  Mat m(n, n);
  for (size_t i = 0; i < v.size(); ++i) m.a[i] = v[i];
  return m;
}

}  // namespace

Result<KvProjections> mkv_pca_projections(const CalibrationStats& calib, const LlamaConfig& cfg) {
  LRKV_RETURN_IF_ERROR(check_calibration_matches(calib, cfg, "calibration"));
  KvProjections P = KvProjections::identity(cfg);
  const int64_t hd = cfg.head_dim, n = calib.n_tokens;
  for (int l = 0; l < cfg.n_layer; ++l) {
    const LayerCalibration& lc = calib.layers[l];
    const std::vector<double> mk = lc.k_post.mean(n), mv = lc.v.mean(n);
    for (int g = 0; g < cfg.n_kv_head; ++g) {
      KvHeadProjection& h = P.at(l, g);
      LRKV_ASSIGN_OR_RETURN(Mat uk, pca_basis(lc.k_post.covariance(n, g * hd, hd)));
      LRKV_ASSIGN_OR_RETURN(Mat uv, pca_basis(lc.v.covariance(n, g * hd, hd)));
      to_float(uk, &h.u_k);
      to_float(uv, &h.u_v);
      for (int64_t i = 0; i < hd; ++i) {
        h.mu_k[i] = static_cast<float>(mk[g * hd + i]);
        h.mu_v[i] = static_cast<float>(mv[g * hd + i]);
      }
    }
  }
  return P;
}

MkvTask::MkvTask(std::unique_ptr<TrainGraph> fwd, KvProjections proj, uint64_t seed, std::vector<int> rank_set)
    : fwd_(std::move(fwd)), proj_(std::move(proj)), seed_(seed), rank_set_(std::move(rank_set)) {}

Result<std::unique_ptr<MkvTask>> MkvTask::create(const Model& model, const KvProjections& init,
                                                 uint64_t seed, std::vector<int> rank_set,
                                                 const TrainGraphFactory& graphs) {
  LRKV_RETURN_IF_ERROR(init.validate(model.config));
  const int hd = model.config.head_dim;
  if (rank_set.empty())
    return make_error(ErrorCode::kInvalidArgument, "MatryoshkaKV: empty rank set");
  for (int r : rank_set) {
    if (r < 1 || r > hd)
      return make_error(ErrorCode::kInvalidArgument, "MatryoshkaKV: rank {} outside 1..{}", r, hd);
  }
  LRKV_ASSIGN_OR_RETURN(std::unique_ptr<TrainGraph> fwd, graphs(model));
  std::unique_ptr<MkvTask> t(new MkvTask(std::move(fwd), init, seed, std::move(rank_set)));
  const size_t n2 = static_cast<size_t>(hd) * hd;
  t->heads_.resize(t->proj_.heads.size());
  for (size_t i = 0; i < t->heads_.size(); ++i) {
    Head& h = t->heads_[i];
    h.u0_k = to_mat(init.heads[i].u_k, hd);
    h.u0_v = to_mat(init.heads[i].u_v, hd);
    if (orthogonality_error(h.u0_k) > 1e-4 || orthogonality_error(h.u0_v) > 1e-4) {
      return make_error(ErrorCode::kInvalidArgument,
                        "MatryoshkaKV: initial U of head {} is not orthogonal", i);
    }
    h.a_k.assign(n2, 0.0f);
    h.a_v.assign(n2, 0.0f);
    h.ga_k.assign(n2, 0.0f);
    h.ga_v.assign(n2, 0.0f);
    h.gmu_k.assign(hd, 0.0f);
    h.gmu_v.assign(hd, 0.0f);
  }
  LRKV_RETURN_IF_ERROR(t->after_update());
  LRKV_RETURN_IF_ERROR(t->fwd_->set_projections(&t->proj_));
  return t;
}

std::string MkvTask::head_name(size_t i, const char* what) const {
  return fmt::format("blk.{}.kv.{}.{}", i / proj_.n_kv_head, i % proj_.n_kv_head, what);
}

std::vector<ParamRef> MkvTask::params() {
  std::vector<ParamRef> out;
  const int64_t hd = proj_.head_dim;
  for (size_t i = 0; i < heads_.size(); ++i) {
    Head& h = heads_[i];
    KvHeadProjection& p = proj_.heads[i];
    out.push_back({head_name(i, "a_k"), h.a_k.data(), h.ga_k.data(), hd * hd});
    out.push_back({head_name(i, "a_v"), h.a_v.data(), h.ga_v.data(), hd * hd});
    out.push_back({head_name(i, "mu_k"), p.mu_k.data(), h.gmu_k.data(), hd});
    out.push_back({head_name(i, "mu_v"), p.mu_v.data(), h.gmu_v.data(), hd});
  }
  return out;
}

Status MkvTask::prepare_step(int64_t step) {
  sample_matryoshka_ranks(proj_, rank_set_, seed_, step);
  return Status::Ok();
}

// Heads are independent: the Cayley maps (and their backward below) run in parallel over heads.
Status MkvTask::after_update() {
  const int64_t hd = proj_.head_dim;
  std::vector<Status> st(heads_.size());
  parallel_small_linalg(static_cast<int64_t>(heads_.size()), [&](int64_t i) {
    Head& h = heads_[i];
    Result<Mat> ck = cayley(to_mat(h.a_k, hd)), cv = cayley(to_mat(h.a_v, hd));
    if (!ck.ok() || !cv.ok()) {
      st[i] = !ck.ok() ? ck.status() : cv.status();
      return;
    }
    h.c_k = std::move(*ck);
    h.c_v = std::move(*cv);
    to_float(matmul(h.u0_k, h.c_k), &proj_.heads[i].u_k);  // U = U0 · C(A)
    to_float(matmul(h.u0_v, h.c_v), &proj_.heads[i].u_v);
  });
  for (const Status& s : st) LRKV_RETURN_IF_ERROR(s);
  return Status::Ok();
}

Status MkvTask::collect_gradients(const Gradients& grads) {
  if (grads.projections.heads.size() != heads_.size()) {
    return make_error(ErrorCode::kInternal,
                      "MatryoshkaKV: backward returned {} projection gradients for {} heads",
                      grads.projections.heads.size(), heads_.size());
  }
  const int64_t hd = proj_.head_dim;
  std::vector<Status> st(heads_.size());
  parallel_small_linalg(static_cast<int64_t>(heads_.size()), [&](int64_t i) {
    Head& h = heads_[i];
    const KvHeadProjection& g = grads.projections.heads[i];
    // dL/dC = U0ᵀ dL/dU;  dL/dA = cayley_backward
    Result<Mat> dak = cayley_backward(to_mat(h.a_k, hd), h.c_k, matmul(h.u0_k, to_mat(g.u_k, hd), true));
    Result<Mat> dav = cayley_backward(to_mat(h.a_v, hd), h.c_v, matmul(h.u0_v, to_mat(g.u_v, hd), true));
    if (!dak.ok() || !dav.ok()) {
      st[i] = !dak.ok() ? dak.status() : dav.status();
      return;
    }
    to_float(*dak, &h.ga_k);
    to_float(*dav, &h.ga_v);
    h.gmu_k = g.mu_k;
    h.gmu_v = g.mu_v;
  });
  for (const Status& s : st) LRKV_RETURN_IF_ERROR(s);
  return Status::Ok();
}

KvProjections MkvTask::full_rank_projections() const {
  KvProjections P = proj_;
  for (KvHeadProjection& h : P.heads) h.rank_k = h.rank_v = P.head_dim;
  return P;
}

void MkvTask::save_extra(Checkpoint* c) const {
  std::string set;
  for (int r : rank_set_) {  // appended piecewise: "," + string trips GCC 12's -Wrestrict
    if (!set.empty()) set += ',';
    set += std::to_string(r);
  }
  c->metadata["lrkv.tune.rank_set"] = set;
  c->metadata["lrkv.tune.seed"] = std::to_string(seed_);
  const int64_t hd = proj_.head_dim;
  for (size_t i = 0; i < heads_.size(); ++i) {
    for (auto [m, what] :
         {std::pair{&heads_[i].u0_k, "u0_k"}, std::pair{&heads_[i].u0_v, "u0_v"}}) {
      Tensor t = Tensor::zeros(DType::kF64, {hd, hd});
      std::copy(m->a.begin(), m->a.end(), t.data_as<double>());
      c->tensors["const/" + head_name(i, what)] = std::move(t);
    }
  }
}

Status MkvTask::load_extra(const Checkpoint& c) {
  const int64_t hd = proj_.head_dim;
  for (size_t i = 0; i < heads_.size(); ++i) {
    for (auto [m, what] :
         {std::pair{&heads_[i].u0_k, "u0_k"}, std::pair{&heads_[i].u0_v, "u0_v"}}) {
      LRKV_ASSIGN_OR_RETURN(const Tensor* t,
                            c.tensor("const/" + head_name(i, what), hd * hd, DType::kF64));
      std::copy_n(t->data_as<double>(), hd * hd, m->a.data());
    }
  }
  return Status::Ok();
}

}  // namespace lrkv
