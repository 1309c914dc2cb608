// Line and scatter plots: several named series of (x, y) points on linear or log axes, optional
// horizontal reference lines, point annotations and a legend placed in the emptiest corner.
// Used for ppl vs KV bytes per token, memory vs context and singular-value spectra.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "eval/plot/axes.h"
#include "eval/plot/canvas.h"

namespace lrkv::plot {

struct Series {
  std::string name;                 // legend entry ("" = not in the legend)
  std::vector<double> x, y;         // same length; non-finite points are skipped
  std::optional<Rgb> color;         // default: series_color(index)
  Marker marker = Marker::kCircle;  // kNone for a plain line
  double marker_size = 11.0;
  bool line = true;  // connect the points in order
  double line_width = 2.0;
  bool dashed = false;
  std::vector<std::string> point_labels;  // optional text next to each point
};

struct RefLine {
  double y = 0.0;     // horizontal line at this y
  std::string label;  // drawn at the right end, above the line
  Rgb color = kGrey;
};

struct LinePlot {
  std::string title;
  AxisSpec x, y;
  std::vector<Series> series;
  std::vector<RefLine> hlines;
  int width = 960, height = 600;
};

// Renders the plot. Points outside a fixed axis range are clipped to the frame.
Canvas render_line_plot(const LinePlot& plot);
// Renders and writes a PNG (atomically).
Status write_line_plot(const LinePlot& plot, const std::string& path);

}  // namespace lrkv::plot
