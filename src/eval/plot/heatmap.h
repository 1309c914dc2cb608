// Heat-maps: a rows x cols matrix as coloured cells (viridis), with row and column labels, cell
// annotations when the cells are large enough, optional separators between column blocks and a
// colour bar. Cell sizes adapt to the matrix (8..64 pixels) so the image stays readable for
// anything from 2x2 to 80 layers x 128 slots.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/status.h"
#include "eval/plot/canvas.h"

namespace lrkv::plot {

struct Heatmap {
  std::string title;
  int rows = 0, cols = 0;
  std::vector<double> values;           // [rows, cols] row-major; NaN = no value (grey)
  std::vector<std::string> row_labels;  // [rows] or empty
  std::vector<std::string> col_labels;  // [cols] or empty
  std::vector<std::string> cell_text;   // [rows*cols] annotations; empty = the values themselves
  bool annotate = true;                 // write cell_text/values inside cells that fit them
  double vmin = std::numeric_limits<double>::quiet_NaN();  // colour scale; NaN = data range
  double vmax = std::numeric_limits<double>::quiet_NaN();
  std::string colorbar_label;
  std::string x_label, y_label;
  std::vector<int> col_separators;  // draw a divider before each of these column indices
};

// Checks sizes (values/labels/cell_text match rows x cols); errors say which is wrong.
Status validate_heatmap(const Heatmap& h);
Result<Canvas> render_heatmap(const Heatmap& h);
Status write_heatmap(const Heatmap& h, const std::string& path);

}  // namespace lrkv::plot
