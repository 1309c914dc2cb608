// Where a decode step's time goes on the device: the kernels a tracer saw while `steps` decode
// steps ran (`lrkv bench --profile`), grouped by (name, grid, block) so that one kernel launched
// for different matrices (W_qkv, W_o, W_gate|W_up, W_down) stays apart.
//   window      span of the traced steps on the tracer's clock (what the user waits for)
//   busy        union of the kernels' [start, end) intervals: time the GPU ran at least one kernel
//   kernel sum  Σ (end - start): exceeds busy where kernels overlap (programmatic dependent launch)
//   idle        window - busy: launch gaps, host round trips, the sampler's read-back
//   gap         per kernel, start - the end of the kernel started just before it (in start order):
//               negative = it overlapped its predecessor (PDL), positive = the GPU waited
//   exclusive   per kernel, the part of its [start, end) no kernel started before it covers: its
//               share of busy (the exclusive times add up to busy). Under PDL a kernel starts
//               early and waits for its predecessor, so its start-to-end time counts that wait
//               too; exclusive time is what it adds to the step.
// All per-step figures are totals over the window divided by `steps`.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/kernel_trace.h"
#include "core/status.h"

namespace lrkv {

struct KernelProfileRow {
  std::string name;
  std::array<int, 3> grid = {1, 1, 1};
  std::array<int, 3> block = {1, 1, 1};
  double launches_per_step = 0;
  double us_per_step = 0;            // Σ duration (start to end) / steps
  double exclusive_us_per_step = 0;  // Σ exclusive time / steps
  double mean_us = 0;                // Σ duration / launches
  double share = 0;                  // exclusive_us_per_step / window_us_per_step
  double mean_gap_us = 0;  // mean (start - end of the previously started kernel); 0 for the first
};

struct KernelProfile {
  int steps = 0;
  std::string source;
  double window_us = 0, busy_us = 0, kernel_sum_us = 0, idle_us = 0;  // per step
  int64_t launches = 0;                                              // over the window
  std::vector<KernelProfileRow> rows;                                // by exclusive time, largest first
};

// Summarises `records` (kernels of `steps` decode steps inside [window_start, window_end]; any
// record outside the window is dropped). Errors on steps < 1 or an empty/inverted window.
Result<KernelProfile> summarize_kernels(std::vector<KernelRecord> records, int steps, uint64_t window_start_ns,
                                        uint64_t window_end_ns, std::string source = {});

// Markdown: one summary line, then the rows whose share is at least min_share (the rest summed
// into one "(N other kernels)" row).
std::string kernel_profile_markdown(const KernelProfile& p, const std::string& title, double min_share = 0.002);

}  // namespace lrkv
