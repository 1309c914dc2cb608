// One entry point for every planner (see planners.h): builds the slots of the method's
// granularity, runs the planner and assembles the RankPlan.
#pragma once

#include <string>
#include <vector>

#include "compress/planners/greedy_kl.h"
#include "compress/planners/planners.h"

namespace lrkv {

struct PlannerInputs {
  const Model* model = nullptr;            // the uncompressed model
  const CalibrationStats* calib = nullptr; // palu / mkv-* spectra and factors; energy; greedy-kl
  std::string method = "palu";
  std::string granularity = "group:4";
  std::string planner = "uniform";
  double budget = 0.5;
  GreedyKlOptions greedy;                  // greedy-kl: held samples
  std::vector<double> fisher_importance;   // fisher: one value per slot (enumerate_slots order)
  int round_to = 32;                       // fisher: rank granularity
};

// "uniform, progressive, fisher, energy, greedy-kl".
std::string planner_names();
Result<RankPlan> run_planner(const PlannerInputs& in);

}  // namespace lrkv
