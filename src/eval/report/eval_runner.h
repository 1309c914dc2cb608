// `lrkv eval`: compares KV-compression methods at equal memory on one model. One calibration is
// shared by every method; for the dense model and each (method, budget) cell the compressed
// model is built in memory and measured:
//   perplexity on the text (strided windows), KL + top-1 agreement against the dense model's
//   next-token distributions on the same windows (first --kl-tokens targets, saved once as
//   base_logprobs.lgp in the output directory), zero-shot task accuracy, passkey retrieval,
//   KV bytes per token (from the cache) and tokens/s (prefill from the perplexity windows,
//   decode from a batch-1 test).
// Results go to <out>/report.json after every cell (resumable: finished cells are skipped unless
// force), then report.md and the PNG plots (report_plots.h) are regenerated.
#pragma once

#include <functional>
#include <memory>

#include <string>
#include <vector>

#include "compress/calibration.h"
#include "eval/passkey.h"
#include "eval/perplexity.h"
#include "eval/report/method_registry.h"
#include "eval/report/speed.h"
#include "io/text_source.h"

namespace lrkv {

struct EvalOptions {
  std::vector<MethodSpec> methods;
  std::vector<double> budgets = {0.5, 0.25};
  KvCacheSpec kv_type = DType::kF16;  // every cache, dense and latent
  // The engine each cell runs on (the CLI's --device: backend/engine_factory.h); null = the CPU.
  std::function<Result<std::unique_ptr<Engine>>(const Model&)> make_engine;

  TextSourceOptions text;  // path "" = no perplexity / KL
  PerplexityOptions ppl;   // ctx, stride, batch, max_tokens (kv_type is set from above)
  bool add_bos = true;
  int64_t kl_tokens =
      8192;  // targets compared with the dense model (f16 log-probs on disk); 0 = all

  std::string calib_path;  // statistics from `lrkv calibrate`; else computed from calib_text
  TextSourceOptions calib_text;
  CalibrationOptions calib;

  std::string tasks;       // --tasks DIR|FILES ("" = none)
  std::string task_names;  // comma-separated subset ("" = all found)
  int task_limit = 0;      // questions per task (0 = all)
  int task_batch = 32;     // choices per forward pass

  bool passkey = true;
  PasskeyOptions passkey_opts;
  bool speed = true;
  SpeedOptions speed_opts = [] {  // batch-1 decode test; ctx 0 = half the model's context
    SpeedOptions s;
    s.ctx = 0;
    s.reps = 2;
    return s;
  }();
  bool spectra = true;

  std::string out_dir;
  bool force = false;  // recompute every cell (and the calibration)
};

// Runs the evaluation of `base` (an uncompressed model with a tokenizer). The model's path goes
// into the settings so a report directory cannot silently mix models.
Status run_eval(const Model& base, const EvalOptions& options);

}  // namespace lrkv
