// One cell of `lrkv eval`: every measurement of one (possibly compressed) model. Used by
// eval_runner.cpp; the inputs are prepared once and shared by all cells.
#pragma once

#include <string>
#include <vector>

#include "eval/report/eval_runner.h"
#include "eval/report/report_data.h"
#include "eval/tasks/task.h"

namespace lrkv {

struct CellInputs {
  const std::vector<int>* tokens = nullptr;    // evaluation text (null = no perplexity)
  const std::vector<McTask>* tasks = nullptr;  // loaded task sets (may be empty)
  std::string base_logits;                     // path of the dense model's saved log-probs
  bool write_base_logits = false;  // this is the dense cell: write them (else read them for KL)
};

// Measures `model` (its KV layout described by `cell.spec/label/budget/plan`, already filled in)
// and fills the remaining fields of `cell`.
Status measure_cell(const Model& model, const CellInputs& in, const EvalOptions& o,
                    CellResult* cell);

}  // namespace lrkv
