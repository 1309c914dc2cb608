#include "eval/plot/heatmap.h"

#include <algorithm>

#include "eval/plot/axes.h"
#include "eval/plot/colors.h"
#include "eval/plot/font.h"
#include "eval/plot/png_io.h"

namespace lrkv::plot {

namespace {

constexpr int kScale = 2;  // labels and titles
constexpr Rgb kEmpty{200, 200, 200};

struct Layout {
  int cell_w, cell_h;
  int left, top;  // top-left corner of the cell grid
  int grid_w, grid_h;
  bool vertical_cols;      // column labels rotated
  int row_step, col_step;  // label every n-th row / column
  int bar_h;               // colour bar height
  int width, height;
};

int max_width(const std::vector<std::string>& v, int scale) {
  int w = 0;
  for (const auto& s : v) w = std::max(w, text_width(s, scale));
  return w;
}

// Height of the column labels under the grid (rotated when they do not fit a cell's width).
int col_label_h(const Heatmap& h, const Layout& L) {
  if (h.col_labels.empty()) return 0;
  return (L.vertical_cols ? max_width(h.col_labels, kScale) : text_height(kScale)) + 10;
}

Layout make_layout(const Heatmap& h) {
  Layout L;
  L.cell_w = std::clamp(900 / std::max(1, h.cols), 8, 64);
  L.cell_h = std::clamp(560 / std::max(1, h.rows), 8, 40);
  const int th = text_height(kScale);
  const int col_label_w = max_width(h.col_labels, kScale);
  L.vertical_cols = col_label_w > L.cell_w - 4;
  L.col_step = L.vertical_cols ? std::max(1, (th + 2 + L.cell_w - 1) / L.cell_w) : 1;
  L.row_step = std::max(1, (th + L.cell_h - 1) / L.cell_h);
  const int row_label_w = max_width(h.row_labels, kScale);
  L.left = 16 + (h.y_label.empty() ? 0 : th + 12) + row_label_w + 10;
  L.top = 20 + (h.title.empty() ? 0 : th + 16);
  L.grid_w = L.cell_w * h.cols;
  L.grid_h = L.cell_h * h.rows;
  const int bar_w = 24 + 10 + 60 + (h.colorbar_label.empty() ? 0 : th + 10);
  L.bar_h = std::max({L.grid_h, 160, text_width(h.colorbar_label, kScale) + 10});
  L.width = std::max({L.left + L.grid_w + 30 + bar_w + 16, text_width(h.title, kScale) + 40,
                      text_width(h.x_label, kScale) + 40});
  L.height = L.top +
             std::max(L.grid_h + col_label_h(h, L) + (h.x_label.empty() ? 0 : th + 14), L.bar_h) +
             20;
  return L;
}

void draw_colorbar(Canvas& cv, const Heatmap& h, const Layout& L, double lo, double hi) {
  const int x = L.left + L.grid_w + 30, y = L.top, bh = L.bar_h, bw = 24;
  for (int j = 0; j < bh; ++j)
    cv.fill_rect(x, y + j, bw, 1, viridis(1.0 - static_cast<double>(j) / (bh - 1)));
  cv.outline_rect(x, y, bw, bh, kGrey);
  for (const Tick& t : linear_ticks(lo, hi, 5)) {
    const int py = y + static_cast<int>(std::lround((hi - t.value) / (hi - lo) * (bh - 1)));
    cv.fill_rect(x + bw, py, 5, 1, kBlack);
    draw_text(cv, x + bw + 8, py, t.label, kBlack, kScale, Align::kLeft, VAlign::kMiddle);
  }
  if (!h.colorbar_label.empty()) {
    draw_text_vertical(cv, x + bw + 8 + 60 + text_height(kScale) / 2 + 4, y + bh / 2,
                       h.colorbar_label, kBlack, kScale);
  }
}

std::string cell_text(const Heatmap& h, int r, int c) {
  const double v = h.values[static_cast<size_t>(r) * h.cols + c];
  if (!h.cell_text.empty()) return h.cell_text[static_cast<size_t>(r) * h.cols + c];
  return std::isfinite(v) ? format_number(v) : "";
}

// The largest text scale at which every annotation fits its cell (0 = none fits: no annotations,
// rather than a patchwork of labelled and unlabelled cells).
int annotation_scale(const Heatmap& h, const Layout& L) {
  if (!h.annotate) return 0;
  int widest = 0;
  for (int r = 0; r < h.rows; ++r) {
    for (int c = 0; c < h.cols; ++c)
      widest = std::max(widest, static_cast<int>(cell_text(h, r, c).size()));
  }
  const std::string probe(static_cast<size_t>(widest), '0');
  for (int scale : {kScale, 1}) {
    if (text_width(probe, scale) <= L.cell_w - 4 && text_height(scale) <= L.cell_h - 2)
      return scale;
  }
  return 0;
}

void draw_cells(Canvas& cv, const Heatmap& h, const Layout& L, double lo, double hi) {
  const int scale = annotation_scale(h, L);
  for (int r = 0; r < h.rows; ++r) {
    for (int c = 0; c < h.cols; ++c) {
      const double v = h.values[static_cast<size_t>(r) * h.cols + c];
      const Rgb bg = std::isfinite(v) ? viridis((v - lo) / (hi - lo)) : kEmpty;
      const int x = L.left + c * L.cell_w, y = L.top + r * L.cell_h;
      cv.fill_rect(x, y, L.cell_w, L.cell_h, bg);
      if (scale > 0) {
        draw_text(cv, x + L.cell_w / 2, y + L.cell_h / 2, cell_text(h, r, c), text_color_on(bg),
                  scale, Align::kCenter, VAlign::kMiddle);
      }
    }
  }
  if (L.cell_w >= 12 && L.cell_h >= 12) {  // thin white grid between cells
    for (int c = 1; c < h.cols; ++c)
      cv.fill_rect(L.left + c * L.cell_w, L.top, 1, L.grid_h, kWhite);
    for (int r = 1; r < h.rows; ++r)
      cv.fill_rect(L.left, L.top + r * L.cell_h, L.grid_w, 1, kWhite);
  }
  for (int c : h.col_separators) {
    if (c > 0 && c < h.cols)
      cv.fill_rect(L.left + c * L.cell_w - 1, L.top - 4, 3, L.grid_h + 8, kBlack);
  }
  cv.outline_rect(L.left - 1, L.top - 1, L.grid_w + 2, L.grid_h + 2, kGrey);
}

void draw_labels(Canvas& cv, const Heatmap& h, const Layout& L) {
  const int th = text_height(kScale);
  for (int r = 0; r < static_cast<int>(h.row_labels.size()); r += L.row_step) {
    draw_text(cv, L.left - 8, L.top + r * L.cell_h + L.cell_h / 2, h.row_labels[r], kBlack, kScale,
              Align::kRight, VAlign::kMiddle);
  }
  const int below = L.top + L.grid_h + 8;
  for (int c = 0; c < static_cast<int>(h.col_labels.size()); c += L.col_step) {
    const int cx = L.left + c * L.cell_w + L.cell_w / 2;
    if (L.vertical_cols) {
      const int w = text_width(h.col_labels[c], kScale);
      draw_text_vertical(cv, cx, below + w / 2, h.col_labels[c], kBlack, kScale);
    } else {
      draw_text(cv, cx, below, h.col_labels[c], kBlack, kScale, Align::kCenter);
    }
  }
  if (!h.title.empty()) draw_text(cv, L.width / 2, 16, h.title, kBlack, kScale, Align::kCenter);
  if (!h.x_label.empty()) {  // centred under the grid when it fits there, else on the image
    const int w = text_width(h.x_label, kScale);
    const int cx = std::clamp(L.left + L.grid_w / 2, w / 2 + 8, L.width - w / 2 - 8);
    draw_text(cv, cx, L.top + L.grid_h + col_label_h(h, L) + 10, h.x_label, kBlack, kScale,
              Align::kCenter);
  }
  if (!h.y_label.empty())
    draw_text_vertical(cv, 16 + th / 2, L.top + L.grid_h / 2, h.y_label, kBlack, kScale);
}

}  // namespace

Status validate_heatmap(const Heatmap& h) {
  auto bad = [](const std::string& what) {
    return Status(ErrorCode::kInvalidArgument, "heat-map: " + what);
  };
  if (h.rows <= 0 || h.cols <= 0 || h.rows > 4096 || h.cols > 4096) {
    return bad(fmt::format("{} x {} cells (expected 1..4096 each)", h.rows, h.cols));
  }
  const size_t n = static_cast<size_t>(h.rows) * h.cols;
  if (h.values.size() != n)
    return bad(fmt::format("{} values for {} x {} cells", h.values.size(), h.rows, h.cols));
  if (!h.row_labels.empty() && h.row_labels.size() != static_cast<size_t>(h.rows)) {
    return bad(fmt::format("{} row labels for {} rows", h.row_labels.size(), h.rows));
  }
  if (!h.col_labels.empty() && h.col_labels.size() != static_cast<size_t>(h.cols)) {
    return bad(fmt::format("{} column labels for {} columns", h.col_labels.size(), h.cols));
  }
  if (!h.cell_text.empty() && h.cell_text.size() != n) {
    return bad(fmt::format("{} cell texts for {} cells", h.cell_text.size(), n));
  }
  return Status::Ok();
}

Result<Canvas> render_heatmap(const Heatmap& h) {
  LRKV_RETURN_IF_ERROR(validate_heatmap(h));
  double lo = h.vmin, hi = h.vmax;
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    double a = std::numeric_limits<double>::infinity(), b = -a;
    for (double v : h.values) {
      if (!std::isfinite(v)) continue;
      a = std::min(a, v);
      b = std::max(b, v);
    }
    if (!std::isfinite(lo)) lo = std::isfinite(a) ? a : 0.0;
    if (!std::isfinite(hi)) hi = std::isfinite(b) ? b : 1.0;
  }
  if (!(hi > lo)) hi = lo + (lo == 0 ? 1.0 : std::abs(lo) * 0.1);
  const Layout L = make_layout(h);
  Canvas cv(L.width, L.height);
  draw_cells(cv, h, L, lo, hi);
  draw_labels(cv, h, L);
  draw_colorbar(cv, h, L, lo, hi);
  return cv;
}

Status write_heatmap(const Heatmap& h, const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(Canvas cv, render_heatmap(h));
  return write_png(cv, path);
}

}  // namespace lrkv::plot
