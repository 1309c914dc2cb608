// check_calibration_finite: every moment of every layer, named as in the calibration file.
#include <cmath>

#include "compress/calibration.h"

namespace lrkv {

namespace {

// Index of the first non-finite value of v[0, n), or -1.
int64_t first_bad(const double* v, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

Status bad_moment(const std::string& source, int layer, const std::string& what, int64_t index,
                  double value) {
  return make_error(ErrorCode::kInvalidArgument,
                    "{}: calibration moment 'blk.{}.{}' has a non-finite value ({}) at index {}; "
                    "the activations overflowed or the file is corrupt (expected finite moments)",
                    source, layer, what, value, index);
}

Status check_layer(const LayerCalibration& L, int l, const std::string& source) {
  if (int64_t i = first_bad(L.xtx.a.data(), L.xtx.a.size()); i >= 0) {
    return bad_moment(source, l, "xtx", i, L.xtx.a[i]);
  }
  const std::pair<const char*, const MomentStats*> moments[] = {
      {"k_pre", &L.k_pre}, {"k_post", &L.k_post}, {"v", &L.v}};
  for (const auto& [name, m] : moments) {
    if (int64_t i = first_bad(m->sum.data(), m->sum.size()); i >= 0) {
      return bad_moment(source, l, std::string(name) + ".sum", i, m->sum[i]);
    }
    if (int64_t i = first_bad(m->sxx.a.data(), m->sxx.a.size()); i >= 0) {
      return bad_moment(source, l, std::string(name) + ".sxx", i, m->sxx.a[i]);
    }
  }
  // k_freq as interleaved (re, im) pairs: index i of re/im is element i / 2.
  const auto* z = reinterpret_cast<const double*>(L.k_freq.data());
  if (int64_t i = first_bad(z, 2 * L.k_freq.size()); i >= 0) {
    return bad_moment(source, l, i % 2 == 0 ? "k_freq.re" : "k_freq.im", i / 2, z[i]);
  }
  return Status::Ok();
}

}  // namespace

Status check_calibration_finite(const CalibrationStats& stats, const std::string& source) {
  for (size_t l = 0; l < stats.layers.size(); ++l) {
    LRKV_RETURN_IF_ERROR(check_layer(stats.layers[l], static_cast<int>(l), source));
  }
  return Status::Ok();
}

}  // namespace lrkv
