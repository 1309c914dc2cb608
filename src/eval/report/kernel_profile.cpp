#include "eval/report/kernel_profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace lrkv {

namespace {

using Key = std::tuple<std::string, std::array<int, 3>, std::array<int, 3>>;  // name, grid, block

std::string dims(const std::array<int, 3>& d) {
  if (d[1] == 1 && d[2] == 1) return fmt::format("{}", d[0]);
  if (d[2] == 1) return fmt::format("{}x{}", d[0], d[1]);
  return fmt::format("{}x{}x{}", d[0], d[1], d[2]);
}

struct Acc {
  int64_t launches = 0, gaps = 0;
  double sum_ns = 0, exclusive_ns = 0, gap_ns = 0;
};

}  // namespace

Result<KernelProfile> summarize_kernels(std::vector<KernelRecord> records, int steps, uint64_t ws, uint64_t we,
                                        std::string source) {
  if (steps < 1) return make_error(ErrorCode::kInvalidArgument, "kernel profile: {} steps (expected >= 1)", steps);
  if (we <= ws) {
    return make_error(ErrorCode::kInvalidArgument, "kernel profile: empty window [{}, {}] ns", ws, we);
  }
  std::erase_if(records, [&](const KernelRecord& r) { return r.start_ns < ws || r.start_ns > we || r.end_ns < r.start_ns; });
  std::sort(records.begin(), records.end(),
            [](const KernelRecord& a, const KernelRecord& b) { return a.start_ns < b.start_ns; });
  KernelProfile p;
  p.steps = steps;
  p.source = std::move(source);
  p.launches = static_cast<int64_t>(records.size());
  double busy_ns = 0, sum_ns = 0;
  uint64_t frontier = ws;  // end of the union of the intervals so far
  std::map<Key, Acc> acc;
  for (size_t i = 0; i < records.size(); ++i) {
    const KernelRecord& r = records[i];
    const uint64_t end = std::min(r.end_ns, we);
    double exclusive = 0;
    if (end > frontier) {
      exclusive = static_cast<double>(end - std::max(frontier, r.start_ns));
      busy_ns += exclusive;
      frontier = end;
    }
    Acc& a = acc[Key{r.name, r.grid, r.block}];
    a.exclusive_ns += exclusive;
    a.launches += 1;
    a.sum_ns += static_cast<double>(r.end_ns - r.start_ns);
    sum_ns += static_cast<double>(r.end_ns - r.start_ns);
    if (i > 0) {
      a.gaps += 1;
      a.gap_ns += static_cast<double>(r.start_ns) - static_cast<double>(records[i - 1].end_ns);
    }
  }
  const double per_step = 1e-3 / steps;  // ns over the window -> us per step
  p.window_us = static_cast<double>(we - ws) * per_step;
  p.busy_us = busy_ns * per_step;
  p.kernel_sum_us = sum_ns * per_step;
  p.idle_us = p.window_us - p.busy_us;
  for (const auto& [k, a] : acc) {
    KernelProfileRow row;
    std::tie(row.name, row.grid, row.block) = k;
    row.launches_per_step = static_cast<double>(a.launches) / steps;
    row.us_per_step = a.sum_ns * per_step;
    row.exclusive_us_per_step = a.exclusive_ns * per_step;
    row.mean_us = a.sum_ns * 1e-3 / static_cast<double>(a.launches);
    row.share = row.exclusive_us_per_step / p.window_us;
    row.mean_gap_us = a.gaps > 0 ? a.gap_ns * 1e-3 / static_cast<double>(a.gaps) : 0.0;
    p.rows.push_back(std::move(row));
  }
  std::stable_sort(p.rows.begin(), p.rows.end(),
                   [](const KernelProfileRow& a, const KernelProfileRow& b) {
                     return a.exclusive_us_per_step > b.exclusive_us_per_step;
                   });
  return p;
}

std::string kernel_profile_markdown(const KernelProfile& p, const std::string& title, double min_share) {
  const double w = std::max(p.window_us, 1e-12);
  std::string s = fmt::format(
      "{} ({}, {} steps): step {:.1f} us, GPU busy {:.1f} us ({:.1f}%), kernel sum {:.1f} us (overlap "
      "{:.1f} us), idle {:.1f} us, {:.1f} launches per step\n\n",
      title, p.source.empty() ? "kernel trace" : p.source, p.steps, p.window_us, p.busy_us, 100.0 * p.busy_us / w,
      p.kernel_sum_us, p.kernel_sum_us - p.busy_us, p.idle_us, static_cast<double>(p.launches) / p.steps);
  s += "| kernel | grid | block | launches/step | exclusive us/step | % of step | mean us (start to end) | mean gap us |\n";
  s += "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  int others = 0;
  double other_us = 0, other_launches = 0;
  for (const KernelProfileRow& r : p.rows) {
    if (r.share < min_share) {
      ++others;
      other_us += r.exclusive_us_per_step;
      other_launches += r.launches_per_step;
      continue;
    }
    s += fmt::format("| {} | {} | {} | {:.2f} | {:.1f} | {:.1f}% | {:.2f} | {:.2f} |\n", r.name, dims(r.grid),
                     dims(r.block), r.launches_per_step, r.exclusive_us_per_step, 100.0 * r.share, r.mean_us,
                     r.mean_gap_us);
  }
  if (others > 0) {
    s += fmt::format("| ({} other kernels) | | | {:.2f} | {:.1f} | {:.1f}% | | |\n", others, other_launches, other_us,
                     100.0 * other_us / w);
  }
  return s;
}

}  // namespace lrkv
