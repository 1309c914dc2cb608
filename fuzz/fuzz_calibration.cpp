// Calibration statistics reader (safetensors of F64 moments + lrkv.calibration metadata) on
// arbitrary bytes; loaded statistics are checked (shapes, finiteness) as consumers do.
#include "compress/calibration.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lrkv::fuzz::write_input("calib.safetensors", data, size);
  auto stats = lrkv::load_calibration(path);
  if (!stats.ok()) return 0;
  lrkv::LlamaConfig cfg;
  cfg.d_model = stats->d_model;
  cfg.n_layer = stats->n_layer;
  cfg.n_kv_head = stats->n_kv_head;
  cfg.head_dim = stats->head_dim;
  (void)lrkv::check_calibration_matches(*stats, cfg, path);
  return 0;
}
