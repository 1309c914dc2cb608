#include "eval/plot/colors.h"

#include <algorithm>
#include <cmath>

namespace lrkv::plot {

namespace {

constexpr Rgb kTableau[10] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                              {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                              {188, 189, 34},  {23, 190, 207}};

// Viridis sampled at t = 0, 0.125, ..., 1 (matplotlib's table).
constexpr Rgb kViridis[9] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                             {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                             {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};

}  // namespace

Rgb series_color(int i) { return kTableau[((i % 10) + 10) % 10]; }

Marker series_marker(int i) {
  constexpr Marker kMarkers[5] = {Marker::kCircle, Marker::kSquare, Marker::kTriangle,
                                  Marker::kDiamond, Marker::kCross};
  return kMarkers[((i % 5) + 5) % 5];
}

Rgb viridis(double t) {
  if (!std::isfinite(t)) t = 0.0;
  t = std::clamp(t, 0.0, 1.0) * 8.0;
  const int i = std::min(7, static_cast<int>(t));
  const double f = t - i;
  const Rgb a = kViridis[i], b = kViridis[i + 1];
  auto mix = [f](uint8_t x, uint8_t y) {
    return static_cast<uint8_t>(std::lround(x + f * (y - x)));
  };
  return {mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b)};
}

Rgb text_color_on(Rgb bg) {
  const double lum = 0.299 * bg.r + 0.587 * bg.g + 0.114 * bg.b;
  return lum > 140 ? kBlack : kWhite;
}

}  // namespace lrkv::plot
