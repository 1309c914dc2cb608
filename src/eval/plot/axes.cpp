#include "eval/plot/axes.h"

#include <fmt/format.h>

#include <algorithm>

#include "eval/plot/font.h"

namespace lrkv::plot {

namespace {

constexpr int kTextScale = 2;
constexpr Rgb kAxisColor{60, 60, 60};
constexpr Rgb kGridColor{232, 232, 232};

double nice_step(double span, int target) {
  const double raw = span / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10.0 * mag;
}

}  // namespace

double Scale::operator()(double v) const {
  double t;
  if (log) {
    t = (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  } else {
    t = (v - lo) / (hi - lo);
  }
  return p0 + t * (p1 - p0);
}

std::string format_number(double v, double step) {
  if (v == 0.0) return "0";
  const double a = std::abs(v);
  if (a >= 1e6) {
    std::string s = fmt::format("{:.3g}", v / 1e6);
    return s + "M";
  }
  if (a < 1e-3) return fmt::format("{:.0e}", v);
  if (step > 0.0) {
    const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    return fmt::format("{:.{}f}", v, std::min(decimals, 6));
  }
  return fmt::format("{:.4g}", v);
}

std::vector<Tick> linear_ticks(double lo, double hi, int target) {
  std::vector<Tick> t;
  if (!(hi > lo)) return t;
  const double step = nice_step(hi - lo, target);
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    const double snapped = std::abs(v) < step * 1e-9 ? 0.0 : v;
    t.push_back({snapped, format_number(snapped, step)});
  }
  return t;
}

std::vector<Tick> log_ticks(double lo, double hi) {
  std::vector<Tick> t;
  if (!(hi > lo) || lo <= 0) return t;
  const int e0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9));
  const int e1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  const bool minor = e1 - e0 < 3;
  const int stride = std::max(1, (e1 - e0 + 7) / 8);  // at most ~8 labelled decades
  for (int e = e0; e <= e1; ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !minor) continue;
      if (m == 1.0 && (e - e0) % stride != 0) continue;
      const double v = m * std::pow(10.0, e);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back({v, format_number(v)});
    }
  }
  // A range inside one decade would get one tick or none: use linear steps there instead.
  if (t.size() < 3) t = linear_ticks(lo, hi, 5);
  return t;
}

std::pair<double, double> resolve_range(const AxisSpec& spec, const std::vector<double>& values) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (double v : values) {
    if (!std::isfinite(v) || (spec.log && v <= 0)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!std::isfinite(lo)) {
    lo = spec.log ? 1.0 : 0.0;
    hi = spec.log ? 10.0 : 1.0;
  }
  if (spec.log) {
    if (hi <= lo * 1.0001) {
      lo /= 2;
      hi *= 2;
    }
    const double pad = std::pow(hi / lo, 0.05);
    lo /= pad;
    hi *= pad;
  } else {
    if (spec.include_zero) {
      lo = std::min(lo, 0.0);
      hi = std::max(hi, 0.0);
    }
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
      const double w = std::max(std::abs(lo) * 0.1, 0.5);
      lo -= w;
      hi += w;
    }
    const double pad = 0.05 * (hi - lo);
    if (!(spec.include_zero && lo == 0.0)) lo -= pad;
    hi += pad;
  }
  if (std::isfinite(spec.min)) lo = spec.min;
  if (std::isfinite(spec.max)) hi = spec.max;
  if (!(hi > lo)) hi = lo + (spec.log ? lo : 1.0);
  return {lo, hi};
}

Axes draw_axes(Canvas& cv, const std::string& title, const AxisSpec& xs,
               std::pair<double, double> xr, const AxisSpec& ys, std::pair<double, double> yr,
               int right_margin) {
  const std::vector<Tick> xt =
      xs.log ? log_ticks(xr.first, xr.second) : linear_ticks(xr.first, xr.second);
  const std::vector<Tick> yt =
      ys.log ? log_ticks(yr.first, yr.second) : linear_ticks(yr.first, yr.second);
  int ytw = 0;
  for (const Tick& t : yt) ytw = std::max(ytw, text_width(t.label, kTextScale));
  const int th = text_height(kTextScale);
  Axes a;
  a.rect.left = 12 + (ys.label.empty() ? 0 : th + 10) + ytw + 10;
  a.rect.top = title.empty() ? 20 : 20 + th + 14;
  a.rect.right = cv.width() - right_margin;
  a.rect.bottom = cv.height() - (12 + th + 8 + (xs.label.empty() ? 0 : th + 10));
  const PlotRect& r = a.rect;
  a.x =
      Scale{xr.first, xr.second, static_cast<double>(r.left), static_cast<double>(r.right), xs.log};
  a.y =
      Scale{yr.first, yr.second, static_cast<double>(r.bottom), static_cast<double>(r.top), ys.log};

  for (const Tick& t : xt) {
    const int px = static_cast<int>(std::lround(a.x(t.value)));
    cv.fill_rect(px, r.top, 1, r.bottom - r.top, kGridColor);
    cv.fill_rect(px, r.bottom, 1, 6, kAxisColor);
    draw_text(cv, px, r.bottom + 9, t.label, kAxisColor, kTextScale, Align::kCenter);
  }
  for (const Tick& t : yt) {
    const int py = static_cast<int>(std::lround(a.y(t.value)));
    cv.fill_rect(r.left, py, r.right - r.left, 1, kGridColor);
    cv.fill_rect(r.left - 6, py, 6, 1, kAxisColor);
    draw_text(cv, r.left - 10, py, t.label, kAxisColor, kTextScale, Align::kRight, VAlign::kMiddle);
  }
  cv.outline_rect(r.left, r.top, r.right - r.left + 1, r.bottom - r.top + 1, kAxisColor);
  if (!title.empty())
    draw_text(cv, (r.left + r.right) / 2, 16, title, kBlack, kTextScale, Align::kCenter);
  if (!xs.label.empty()) {
    draw_text(cv, (r.left + r.right) / 2, cv.height() - 10, xs.label, kBlack, kTextScale,
              Align::kCenter, VAlign::kBottom);
  }
  if (!ys.label.empty())
    draw_text_vertical(cv, 12 + th / 2, (r.top + r.bottom) / 2, ys.label, kBlack, kTextScale);
  return a;
}

}  // namespace lrkv::plot
