// Compression work on a device (`--device cpu|cuda|auto` of compress, calibrate, tune,
// convert-gqa): factorisations, training graphs and calibration. "cuda" needs a build with
// -DLRKV_CUDA=ON and a device; otherwise a clear error, before any long work.
#pragma once

#include <string>

#include "backend/engine_factory.h"
#include "compress/calibration.h"
#include "compress/compressor.h"
#include "io/text_source.h"
#include "model/model.h"
#include "model/train/train_graph.h"

namespace lrkv {

// compress_model's factorisations on `device` (cpu: factorize.h; cuda: cuSOLVER).
Result<Factorizer> make_factorizer(const std::string& device);
// Training graphs (`lrkv tune`, recovery tuning) on `device`: cpu (TrainForward) or cuda
// (CudaTrainGraph: the whole forward/backward on the GPU, teacher and student sharing weights).
Result<TrainGraphFactory> training_graphs(const std::string& device);
// calibrate_from_text (compress/calibrate_text.h) with the forward pass on `device`.
Result<CalibrationStats> calibrate_from_text_on(const Model& m, const TextSourceOptions& text,
                                                const CalibrationOptions& options, const std::string& device);

}  // namespace lrkv
