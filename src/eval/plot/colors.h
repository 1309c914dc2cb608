// Colours for plots: a qualitative palette for series (Tableau 10, readable on white and to most
// colour-blind viewers) and the viridis colour map for heat-maps.
#pragma once

#include "eval/plot/canvas.h"

namespace lrkv::plot {

// The i-th series colour (cycles after 10).
Rgb series_color(int i);
// The i-th series marker (cycles through circle, square, triangle, diamond, cross).
Marker series_marker(int i);
// Viridis at t in [0, 1] (clamped): dark purple (0) -> teal -> yellow (1).
Rgb viridis(double t);
// Black or white, whichever reads better on `background`.
Rgb text_color_on(Rgb background);

}  // namespace lrkv::plot
