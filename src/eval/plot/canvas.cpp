#include "eval/plot/canvas.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/status.h"

namespace lrkv::plot {

namespace {

double clamp01(double v) { return std::clamp(v, 0.0, 1.0); }

// Distance from p to segment ab.
double segment_distance(double px, double py, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay;
  const double len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  const double ex = px - (ax + t * dx), ey = py - (ay + t * dy);
  return std::sqrt(ex * ex + ey * ey);
}

Rgb darker(Rgb c, double f) {
  return {static_cast<uint8_t>(c.r * f), static_cast<uint8_t>(c.g * f),
          static_cast<uint8_t>(c.b * f)};
}

}  // namespace

Canvas::Canvas(int width, int height, Rgb bg) : w_(width), h_(height), cx1_(width), cy1_(height) {
  LRKV_CHECK(width > 0 && height > 0 && width <= 16384 && height <= 16384, "canvas {}x{}", width,
             height);
  px_.resize(static_cast<size_t>(w_) * h_ * 3);
  for (size_t i = 0; i < px_.size(); i += 3) {
    px_[i] = bg.r;
    px_[i + 1] = bg.g;
    px_[i + 2] = bg.b;
  }
}

Rgb Canvas::at(int x, int y) const {
  LRKV_CHECK(x >= 0 && x < w_ && y >= 0 && y < h_, "pixel ({}, {}) outside {}x{}", x, y, w_, h_);
  const uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::set_clip(int x0, int y0, int x1, int y1) {
  cx0_ = std::clamp(x0, 0, w_);
  cy0_ = std::clamp(y0, 0, h_);
  cx1_ = std::clamp(x1, cx0_, w_);
  cy1_ = std::clamp(y1, cy0_, h_);
}

void Canvas::set(int x, int y, Rgb c) {
  if (!visible(x, y)) return;
  uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void Canvas::blend(int x, int y, Rgb c, double alpha) {
  if (!visible(x, y) || alpha <= 0.0) return;
  alpha = std::min(alpha, 1.0);
  uint8_t* p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
  const uint8_t src[3] = {c.r, c.g, c.b};
  for (int k = 0; k < 3; ++k)
    p[k] = static_cast<uint8_t>(std::lround(p[k] + alpha * (src[k] - p[k])));
}

void Canvas::fill_rect(int x, int y, int w, int h, Rgb c) {
  const int x0 = std::max(x, cx0_), y0 = std::max(y, cy0_);
  const int x1 = std::min(x + w, cx1_), y1 = std::min(y + h, cy1_);
  for (int j = y0; j < y1; ++j) {
    for (int i = x0; i < x1; ++i) set(i, j, c);
  }
}

void Canvas::outline_rect(int x, int y, int w, int h, Rgb c) {
  fill_rect(x, y, w, 1, c);
  fill_rect(x, y + h - 1, w, 1, c);
  fill_rect(x, y, 1, h, c);
  fill_rect(x + w - 1, y, 1, h, c);
}

void Canvas::segment(double x0, double y0, double x1, double y1, Rgb c, double width) {
  const double r = width / 2.0;
  const int i0 = std::max(0, static_cast<int>(std::floor(std::min(x0, x1) - r - 1)));
  const int i1 = std::min(w_ - 1, static_cast<int>(std::ceil(std::max(x0, x1) + r + 1)));
  const int j0 = std::max(0, static_cast<int>(std::floor(std::min(y0, y1) - r - 1)));
  const int j1 = std::min(h_ - 1, static_cast<int>(std::ceil(std::max(y0, y1) + r + 1)));
  for (int j = j0; j <= j1; ++j) {
    for (int i = i0; i <= i1; ++i) {
      const double d = segment_distance(i + 0.5, j + 0.5, x0, y0, x1, y1);
      const double cover = clamp01(r + 0.5 - d);
      // Blend towards the target by coverage without darkening twice where segments overlap.
      if (cover > 0) blend(i, j, c, cover);
    }
  }
}

void Canvas::line(double x0, double y0, double x1, double y1, Rgb c, double width, double dash) {
  polyline({x0, x1}, {y0, y1}, c, width, dash);
}

void Canvas::polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgb c,
                      double width, double dash) {
  LRKV_CHECK(xs.size() == ys.size(), "polyline: {} x values, {} y values", xs.size(), ys.size());
  double phase = 0.0;  // distance along the current dash period
  for (size_t k = 1; k < xs.size(); ++k) {
    const double x0 = xs[k - 1], y0 = ys[k - 1], x1 = xs[k], y1 = ys[k];
    if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1))
      continue;
    const double len = std::hypot(x1 - x0, y1 - y0);
    if (dash <= 0.0) {
      segment(x0, y0, x1, y1, c, width);
      continue;
    }
    double t = 0.0;
    while (t < len) {
      const double in_period = std::fmod(phase, 2 * dash);
      const double step = std::min(len - t, (in_period < dash ? dash : 2 * dash) - in_period);
      if (in_period < dash && len > 0) {
        const double a = t / len, b = (t + step) / len;
        segment(x0 + a * (x1 - x0), y0 + a * (y1 - y0), x0 + b * (x1 - x0), y0 + b * (y1 - y0), c,
                width);
      }
      t += step;
      phase += step;
    }
  }
}

void Canvas::marker(double cx, double cy, Marker m, double size, Rgb c) {
  if (m == Marker::kNone) return;
  const double r = size / 2.0;
  // Signed distance to the marker's outline (negative inside).
  std::function<double(double, double)> sdf;
  switch (m) {
    case Marker::kCircle:
      sdf = [r](double dx, double dy) { return std::hypot(dx, dy) - r; };
      break;
    case Marker::kSquare:
      sdf = [r](double dx, double dy) { return std::max(std::abs(dx), std::abs(dy)) - 0.85 * r; };
      break;
    case Marker::kDiamond:
      sdf = [r](double dx, double dy) {
        return (std::abs(dx) + std::abs(dy)) / std::sqrt(2.0) - 0.8 * r;
      };
      break;
    case Marker::kTriangle:
      sdf = [r](double dx, double dy) {
        // Upward triangle of circumradius r (y grows down): max of the three edge half-planes,
        // outward normals (0, 1), (k, -1/2), (-k, -1/2); the inradius is r/2.
        const double k = std::sqrt(3.0) / 2.0;
        return std::max({dy, k * dx - 0.5 * dy, -k * dx - 0.5 * dy}) - 0.5 * r;
      };
      break;
    case Marker::kCross:
      sdf = [r](double dx, double dy) {
        const double d1 = segment_distance(dx, dy, -0.8 * r, -0.8 * r, 0.8 * r, 0.8 * r);
        const double d2 = segment_distance(dx, dy, -0.8 * r, 0.8 * r, 0.8 * r, -0.8 * r);
        return std::min(d1, d2) - std::max(1.0, 0.22 * r);
      };
      break;
    case Marker::kNone:
      return;
  }
  const Rgb edge = darker(c, 0.55);
  const int i0 = static_cast<int>(std::floor(cx - r - 2)),
            i1 = static_cast<int>(std::ceil(cx + r + 2));
  const int j0 = static_cast<int>(std::floor(cy - r - 2)),
            j1 = static_cast<int>(std::ceil(cy + r + 2));
  for (int j = j0; j <= j1; ++j) {
    for (int i = i0; i <= i1; ++i) {
      const double d = sdf(i + 0.5 - cx, j + 0.5 - cy);
      blend(i, j, edge, clamp01(0.5 - d));       // whole shape in the edge colour
      blend(i, j, c, clamp01(0.5 - (d + 1.2)));  // interior inset by 1.2 px in the fill colour
    }
  }
}

}  // namespace lrkv::plot
