// Truncating a compressed model's factors to a smaller plan. Every factorisation here orders its
// components (SVD: singular values, PCA: eigenvalues, MatryoshkaKV: trained prefix order), so the
// rank-r factors are the first r components of the full-rank ones: rows of the down-projections,
// columns of the up-projections/bases. Lets planners evaluate many plans from one factorisation.
#pragma once

#include "model/model.h"
#include "model/rank_plan.h"

namespace lrkv {

// `full` is a compressed model (its plan has the same groups as `plan`, ranks >= plan's).
// Returns a model sharing the base weights with the factors sliced to `plan`.
Result<Model> truncate_to_plan(const Model& full, const RankPlan& plan);

}  // namespace lrkv
