// Axes for 2-D plots: data ranges, linear and log10 scales, "nice" ticks, and the frame with
// grid lines, tick labels, axis labels and a title drawn on a Canvas.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "eval/plot/canvas.h"

namespace lrkv::plot {

struct AxisSpec {
  std::string label;
  bool log = false;  // log10 scale (non-positive values are dropped)
  double min = std::numeric_limits<double>::quiet_NaN();  // NaN = from the data
  double max = std::numeric_limits<double>::quiet_NaN();
  bool include_zero = false;  // linear: extend the data range to 0
};

// Maps data values in [lo, hi] to pixels [p0, p1] (p1 < p0 for a y axis growing up).
struct Scale {
  double lo = 0, hi = 1, p0 = 0, p1 = 1;
  bool log = false;
  double operator()(double v) const;
};

struct Tick {
  double value;
  std::string label;
};

// About `target` ticks at 1/2/5 x 10^k steps covering [lo, hi].
std::vector<Tick> linear_ticks(double lo, double hi, int target = 6);
// Powers of ten in [lo, hi]; with fewer than three decades also 2 and 5 times them; linear
// ticks when that still gives fewer than three (a range within about one decade).
std::vector<Tick> log_ticks(double lo, double hi);
// Compact number for labels: "0.25", "1500", "1.5M", "1e-05".
std::string format_number(double v, double step = 0.0);

// The range a spec gives for `values` (finite ones; positive ones for log axes), padded by 5%
// (linear) or to whole decades' neighbourhood (log). Never empty: a single value is widened.
std::pair<double, double> resolve_range(const AxisSpec& spec, const std::vector<double>& values);

// Plot rectangle in pixels: [left, right] x [top, bottom].
struct PlotRect {
  int left = 0, top = 0, right = 0, bottom = 0;
};

struct Axes {
  Scale x, y;
  PlotRect rect;
};

// Lays out margins for the tick labels, then draws the title, grid, frame, ticks and labels.
// `right_margin` leaves room (e.g. for a colour bar) right of the plot.
Axes draw_axes(Canvas& cv, const std::string& title, const AxisSpec& xs,
               std::pair<double, double> xr, const AxisSpec& ys, std::pair<double, double> yr,
               int right_margin = 30);

}  // namespace lrkv::plot
