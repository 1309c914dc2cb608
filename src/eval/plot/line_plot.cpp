#include "eval/plot/line_plot.h"

#include <algorithm>

#include "eval/plot/colors.h"
#include "eval/plot/font.h"
#include "eval/plot/png_io.h"

namespace lrkv::plot {

namespace {

constexpr int kTextScale = 2;
constexpr int kSampleW = 34;  // legend line sample

Rgb color_of(const Series& s, size_t i) {
  return s.color ? *s.color : series_color(static_cast<int>(i));
}

bool usable(const AxisSpec& a, double v) { return std::isfinite(v) && (!a.log || v > 0); }

struct PixelSeries {
  std::vector<double> px, py;
};

PixelSeries to_pixels(const Series& s, const Axes& ax, const LinePlot& p) {
  PixelSeries out;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
    if (!usable(p.x, s.x[i]) || !usable(p.y, s.y[i])) continue;
    out.px.push_back(ax.x(s.x[i]));
    out.py.push_back(ax.y(s.y[i]));
  }
  return out;
}

void draw_legend(Canvas& cv, const LinePlot& p, const Axes& ax,
                 const std::vector<PixelSeries>& pix) {
  std::vector<size_t> entries;
  int text_w = 0;
  for (size_t i = 0; i < p.series.size(); ++i) {
    if (p.series[i].name.empty()) continue;
    entries.push_back(i);
    text_w = std::max(text_w, text_width(p.series[i].name, kTextScale));
  }
  if (entries.empty()) return;
  const int row_h = text_height(kTextScale) + 6;
  const int w = 10 + kSampleW + 8 + text_w + 10,
            h = 8 + row_h * static_cast<int>(entries.size()) + 2;
  const PlotRect& r = ax.rect;
  const int pad = 8;
  const std::pair<int, int> corners[4] = {{r.right - pad - w, r.top + pad},
                                          {r.left + pad, r.top + pad},
                                          {r.right - pad - w, r.bottom - pad - h},
                                          {r.left + pad, r.bottom - pad - h}};
  // The corner covering the fewest data points (ties: top right first).
  int best = 0;
  size_t best_count = SIZE_MAX;
  for (int c = 0; c < 4; ++c) {
    size_t n = 0;
    for (const PixelSeries& s : pix) {
      for (size_t k = 0; k < s.px.size(); ++k) {
        n += s.px[k] >= corners[c].first - 6 && s.px[k] <= corners[c].first + w + 6 &&
             s.py[k] >= corners[c].second - 6 && s.py[k] <= corners[c].second + h + 6;
      }
    }
    if (n < best_count) {
      best_count = n;
      best = c;
    }
  }
  const int x = corners[best].first, y = corners[best].second;
  cv.fill_rect(x, y, w, h, kWhite);
  cv.outline_rect(x, y, w, h, Rgb{170, 170, 170});
  for (size_t e = 0; e < entries.size(); ++e) {
    const Series& s = p.series[entries[e]];
    const Rgb c = color_of(s, entries[e]);
    const double cy = y + 8 + row_h * static_cast<double>(e) + row_h / 2.0 - 3;
    if (s.line) cv.line(x + 10, cy, x + 10 + kSampleW, cy, c, s.line_width, s.dashed ? 6.0 : 0.0);
    cv.marker(x + 10 + kSampleW / 2.0, cy, s.marker, s.marker_size, c);
    draw_text(cv, x + 10 + kSampleW + 8, static_cast<int>(cy), s.name, kBlack, kTextScale,
              Align::kLeft, VAlign::kMiddle);
  }
}

}  // namespace

Canvas render_line_plot(const LinePlot& p) {
  Canvas cv(p.width, p.height);
  std::vector<double> xs, ys;
  for (const Series& s : p.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
  }
  for (const RefLine& h : p.hlines) ys.push_back(h.y);
  const Axes ax = draw_axes(cv, p.title, p.x, resolve_range(p.x, xs), p.y, resolve_range(p.y, ys));
  const PlotRect& r = ax.rect;
  cv.set_clip(r.left + 1, r.top + 1, r.right, r.bottom);
  for (const RefLine& h : p.hlines) {
    if (!usable(p.y, h.y)) continue;
    const double py = ax.y(h.y);
    cv.line(r.left, py, r.right, py, h.color, 1.5, 8.0);
    if (!h.label.empty()) {
      draw_text(cv, r.right - 8, static_cast<int>(py) - 4, h.label, h.color, kTextScale,
                Align::kRight, VAlign::kBottom);
    }
  }
  std::vector<PixelSeries> pix;
  for (size_t i = 0; i < p.series.size(); ++i) {
    pix.push_back(to_pixels(p.series[i], ax, p));
    const Series& s = p.series[i];
    if (s.line)
      cv.polyline(pix.back().px, pix.back().py, color_of(s, i), s.line_width, s.dashed ? 8.0 : 0.0);
  }
  for (size_t i = 0; i < p.series.size(); ++i) {
    const Series& s = p.series[i];
    const PixelSeries& ps = pix[i];
    for (size_t k = 0; k < ps.px.size(); ++k)
      cv.marker(ps.px[k], ps.py[k], s.marker, s.marker_size, color_of(s, i));
  }
  cv.reset_clip();  // point labels may run over the frame
  for (size_t i = 0; i < p.series.size(); ++i) {
    const Series& s = p.series[i];
    const PixelSeries& ps = pix[i];
    // Point labels follow the finite points in order (labels of skipped points are skipped too).
    size_t k = 0;
    for (size_t j = 0; j < s.x.size() && j < s.y.size() && j < s.point_labels.size(); ++j) {
      if (!usable(p.x, s.x[j]) || !usable(p.y, s.y[j])) continue;
      draw_text(cv, static_cast<int>(ps.px[k]) + 9, static_cast<int>(ps.py[k]) - 6,
                s.point_labels[j], color_of(s, i), kTextScale, Align::kLeft, VAlign::kBottom);
      ++k;
    }
  }
  draw_legend(cv, p, ax, pix);
  return cv;
}

Status write_line_plot(const LinePlot& plot, const std::string& path) {
  return write_png(render_line_plot(plot), path);
}

}  // namespace lrkv::plot
