#include "eval/report/spectra.h"

#include "compress/linalg.h"
#include "core/progress.h"

namespace lrkv {

namespace {

Result<Mat> to_mat(const Tensor& w) {
  LRKV_ASSIGN_OR_RETURN(Tensor f, w.dtype() == DType::kF32 ? Result<Tensor>(w) : w.to(DType::kF32));
  Mat m(w.dim(0), w.dim(1));
  for (size_t i = 0; i < m.a.size(); ++i) m.a[i] = f.f32()[i];
  return m;
}

Result<std::vector<double>> singular_values(const Mat& a) {
  LRKV_ASSIGN_OR_RETURN(Svd s, svd(a));
  return s.s;
}

}  // namespace

Result<nlohmann::json> weight_spectra(const Model& m, const CalibrationStats* calib) {
  nlohmann::json out = {{"k", nlohmann::json::array()}, {"v", nlohmann::json::array()}};
  if (calib) {
    out["k_whitened"] = nlohmann::json::array();
    out["v_whitened"] = nlohmann::json::array();
  }
  Progress progress("spectra", m.config.n_layer, "layer");
  for (int l = 0; l < m.config.n_layer; ++l) {
    const LayerWeights& w = m.weights.layers[l];
    LRKV_ASSIGN_OR_RETURN(Mat wk, to_mat(w.wk));
    LRKV_ASSIGN_OR_RETURN(Mat wv, to_mat(w.wv));
    LRKV_ASSIGN_OR_RETURN(auto sk, singular_values(wk));
    LRKV_ASSIGN_OR_RETURN(auto sv, singular_values(wv));
    out["k"].push_back(sk);
    out["v"].push_back(sv);
    if (calib) {
      LRKV_ASSIGN_OR_RETURN(Mat L, cholesky_lower(calib->layers[l].xtx));
      LRKV_ASSIGN_OR_RETURN(auto wk_s, singular_values(matmul(wk, L)));
      LRKV_ASSIGN_OR_RETURN(auto wv_s, singular_values(matmul(wv, L)));
      out["k_whitened"].push_back(wk_s);
      out["v_whitened"].push_back(wv_s);
    }
    progress.add(1);
  }
  progress.finish();
  return out;
}

}  // namespace lrkv
