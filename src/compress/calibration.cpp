#include "compress/calibration.h"

#include <cblas.h>

#include <algorithm>

#include "core/progress.h"

namespace lrkv {

namespace {

// Σ y and Σ y yᵀ (upper triangle) of `rows` rows of width n (stride ld).
void accumulate(MomentStats& m, const float* y, int64_t rows, int64_t n, int64_t ld,
                std::vector<double>& scratch) {
  scratch.resize(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      scratch[r * n + c] = y[r * ld + c];
      m.sum[c] += y[r * ld + c];
    }
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(n), static_cast<int>(rows), 1.0,
              scratch.data(), static_cast<int>(n), 1.0, m.sxx.a.data(), static_cast<int>(n));
}

void symmetrize(Mat& m) {
  for (int64_t i = 0; i < m.rows; ++i) {
    for (int64_t j = 0; j < i; ++j) m(i, j) = m(j, i);
  }
}

class Collector {
 public:
  Collector(const LlamaConfig& c, CalibrationStats* s) : cfg_(c), s_(s) {
    const int64_t d = c.d_model, kv = c.kv_dim();
    s->layers.resize(c.n_layer);
    for (auto& L : s->layers) {
      L.xtx = Mat(d, d);
      for (MomentStats* m : {&L.k_pre, &L.k_post, &L.v}) {
        m->sum.assign(kv, 0.0);
        m->sxx = Mat(kv, kv);
      }
      L.k_freq.assign(static_cast<size_t>(c.head_dim / 2) * c.n_kv_head * c.n_kv_head, 0.0);
    }
  }

  void on_event(const HookEvent& e) {
    if (e.layer < 0) return;
    LayerCalibration& L = s_->layers[e.layer];
    switch (e.point) {
      case HookPoint::kKvInput: {
        MomentStats tmp{std::vector<double>(e.cols, 0.0), std::move(L.xtx)};
        accumulate(tmp, e.data, e.rows, e.cols, e.ld, scratch_);
        L.xtx = std::move(tmp.sxx);
        if (e.layer == 0) s_->n_tokens += e.rows;
        break;
      }
      case HookPoint::kKPreRope:
        accumulate(L.k_pre, e.data, e.rows, e.cols, e.ld, scratch_);
        accumulate_freq(L, e);
        break;
      case HookPoint::kKPostRope: accumulate(L.k_post, e.data, e.rows, e.cols, e.ld, scratch_); break;
      case HookPoint::kV: accumulate(L.v, e.data, e.rows, e.cols, e.ld, scratch_); break;
      default: break;
    }
  }

  void finish() {
    for (auto& L : s_->layers) {
      symmetrize(L.xtx);
      for (MomentStats* m : {&L.k_pre, &L.k_post, &L.v}) symmetrize(m->sxx);
    }
  }

 private:
  // Σ z zᴴ per frequency across KV heads.
  void accumulate_freq(LayerCalibration& L, const HookEvent& e) {
    const int hd = cfg_.head_dim, half = hd / 2, H = cfg_.n_kv_head;
    const bool inter = cfg_.rope_layout == RopeLayout::kInterleaved;
    std::vector<std::complex<double>> z(H);
    for (int64_t r = 0; r < e.rows; ++r) {
      const float* k = e.data + r * e.ld;
      for (int i = 0; i < half; ++i) {
        for (int h = 0; h < H; ++h) {
          const float* kh = k + h * hd;
          z[h] = {kh[inter ? 2 * i : i], kh[inter ? 2 * i + 1 : i + half]};
        }
        std::complex<double>* m = L.k_freq.data() + static_cast<size_t>(i) * H * H;
        for (int a = 0; a < H; ++a) {
          for (int b = 0; b < H; ++b) m[a * H + b] += z[a] * std::conj(z[b]);
        }
      }
    }
  }

  const LlamaConfig& cfg_;
  CalibrationStats* s_;
  std::vector<double> scratch_;
};

}  // namespace

std::vector<double> MomentStats::mean(int64_t n) const {
  std::vector<double> m(sum.size());
  for (size_t i = 0; i < m.size(); ++i) m[i] = sum[i] / static_cast<double>(n);
  return m;
}

Mat MomentStats::covariance(int64_t n, int64_t begin, int64_t len) const {
  if (len < 0) len = static_cast<int64_t>(sum.size()) - begin;
  Mat c(len, len);
  const double inv = 1.0 / static_cast<double>(n);
  for (int64_t i = 0; i < len; ++i) {
    for (int64_t j = 0; j < len; ++j) {
      c(i, j) = sxx(begin + i, begin + j) * inv - sum[begin + i] * inv * sum[begin + j] * inv;
    }
  }
  return c;
}

Result<CalibrationStats> run_calibration(CpuEngine& engine, const std::vector<int>& tokens,
                                         const CalibrationOptions& o) {
  const LlamaConfig& cfg = engine.config();
  const int ctx = o.ctx > 0 ? o.ctx : cfg.max_seq;
  int64_t n = static_cast<int64_t>(tokens.size());
  if (o.max_tokens > 0) n = std::min(n, o.max_tokens);
  if (n < 1) return make_error(ErrorCode::kInvalidArgument, "calibration needs at least one token");
  CalibrationStats stats;
  stats.model_name = cfg.name;
  stats.d_model = cfg.d_model;
  stats.n_layer = cfg.n_layer;
  stats.n_kv_head = cfg.n_kv_head;
  stats.head_dim = cfg.head_dim;
  Collector collector(cfg, &stats);
  engine.set_hook([&](const HookEvent& e) { collector.on_event(e); });
  const int batch = std::max(1, o.batch);
  auto cache = engine.make_dense_cache(batch, ctx);
  if (!cache.ok()) {
    engine.set_hook(nullptr);
    return cache.status();
  }
  Progress progress("calibrate", n, "tok");
  if (!o.progress) progress.disable();
  Status status;
  for (int64_t b = 0; b < n && status.ok(); b += int64_t{ctx} * batch) {
    std::vector<SeqSpan> spans;
    for (int i = 0; i < batch && b + int64_t{i} * ctx < n; ++i) {
      const int64_t s = b + int64_t{i} * ctx;
      (*cache)->truncate(i, 0);
      spans.push_back({i, tokens.data() + s, static_cast<int>(std::min<int64_t>(ctx, n - s))});
    }
    status = engine.forward(spans, **cache, LogitsMode::kNone, nullptr);
    for (const auto& s : spans) progress.add(s.n);
  }
  engine.set_hook(nullptr);
  LRKV_RETURN_IF_ERROR(status);
  progress.finish();
  collector.finish();
  LRKV_RETURN_IF_ERROR(check_calibration_finite(stats, "calibration of " + cfg.name));
  return stats;
}

}  // namespace lrkv
