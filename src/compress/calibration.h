// Calibration statistics: second moments of the activations compression needs, accumulated in
// fp64 over calibration text through the engine's hooks. Per layer:
//   xtx            Σ x xᵀ at the K/V projection input (attention RMSNorm output)   [d, d]
//   k_pre, k_post  Σ k and Σ k kᵀ of keys before / after RoPE, all KV heads         [kv], [kv, kv]
//   v              Σ v and Σ v vᵀ of values                                         [kv], [kv, kv]
//   k_freq         Σ z zᴴ per RoPE frequency i, z_h = k_h[a_i] + j·k_h[b_i] across KV heads h
//                  (a_i, b_i the pair rotated together); RoPE multiplies every z_h of a token by
//                  the same unit complex number, so this moment is RoPE-invariant   [hd/2, n_kv, n_kv]
// Memory is bounded by the model's shapes (not the token count): 8·(d² + 3·kv² ) bytes per layer.
// Saved as safetensors with F64 tensors (readable by numpy) and a JSON description.
#pragma once

#include <complex>
#include <string>
#include <vector>

#include "compress/linalg.h"
#include "model/cpu_engine.h"

namespace lrkv {

struct MomentStats {
  std::vector<double> sum;  // [n]
  Mat sxx;                  // [n, n] Σ y yᵀ
  std::vector<double> mean(int64_t n_tokens) const;
  // Centred covariance Σ (y - μ)(y - μ)ᵀ / n over rows/cols [begin, begin + len).
  Mat covariance(int64_t n_tokens, int64_t begin = 0, int64_t len = -1) const;
};

struct LayerCalibration {
  Mat xtx;                                   // [d, d]
  MomentStats k_pre, k_post, v;              // [kv_dim]
  std::vector<std::complex<double>> k_freq;  // [hd/2 * n_kv * n_kv], (i, a, b) row-major
};

struct CalibrationStats {
  std::string model_name, text;
  int64_t n_tokens = 0;
  int d_model = 0, n_layer = 0, n_kv_head = 0, head_dim = 0;
  std::vector<LayerCalibration> layers;
  int kv_dim() const { return n_kv_head * head_dim; }
};

struct CalibrationOptions {
  int ctx = 0;              // window length; 0 = model context
  int batch = 4;            // windows per forward pass
  int64_t max_tokens = 0;   // 0 = all tokens given
  bool progress = true;
};

// Runs `tokens` through the model in non-overlapping windows and accumulates the statistics.
// Non-finite activations are an error from the engine; non-finite moments (fp64 overflow) an
// error from check_calibration_finite.
Result<CalibrationStats> run_calibration(CpuEngine& engine, const std::vector<int>& tokens,
                                         const CalibrationOptions& options);

Status save_calibration(const CalibrationStats& stats, const std::string& path);
// Loads and validates (shapes, finiteness); errors name the file and tensor.
Result<CalibrationStats> load_calibration(const std::string& path);
// kInvalidArgument naming `source`, the moment ("blk.3.k_post.sxx") and the first index holding a
// NaN/Inf. One pass over the moments (8·(d² + 3·kv²) bytes per layer).
Status check_calibration_finite(const CalibrationStats& stats, const std::string& source);
// Checks the statistics were collected on a model of `cfg`'s shapes and are finite
// (check_calibration_finite); every consumer (compressor, planners, GQA merge, tuning) calls it.
Status check_calibration_matches(const CalibrationStats& stats, const LlamaConfig& cfg,
                                 const std::string& path);

}  // namespace lrkv
