// --device cpu|cuda for `lrkv compress`: where the factorisations (and, with --text, the
// calibration forward pass and moment accumulation) run. "cuda" needs a build with -DLRKV_CUDA=ON
// and a device; otherwise a clear error, before any long work.
#pragma once

#include <string>

#include "compress/calibration.h"
#include "compress/compressor.h"
#include "eval/text_source.h"
#include "model/model.h"
#include "model/train/train_graph.h"

namespace lrkv::cli {

// Checks the name and that the device can be used ("built without CUDA", no device).
Status check_compute_device(const std::string& device);
// compress_model's factorisations on `device` (cpu: factorize.h; cuda: cuSOLVER).
Result<Factorizer> make_factorizer(const std::string& device);
// Training graphs (`lrkv tune`, recovery tuning) on `device`: cpu (TrainForward) or cuda
// (CudaTrainGraph: the whole forward/backward on the GPU, teacher and student sharing weights).
Result<TrainGraphFactory> training_graphs(const std::string& device);
// calibrate_from_text (cmd_calibrate.cpp) with the forward pass on `device`.
Result<CalibrationStats> calibrate_from_text_on(const Model& m, const TextSourceOptions& text,
                                                const CalibrationOptions& options, const std::string& device);

}  // namespace lrkv::cli
