// Plot library: PNGs are valid and of the right size (read back with libpng), text renders ink
// where the labels go, primitives land where they should, heat-maps validate their inputs.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "eval/plot/axes.h"
#include "model/methods.h"
#include "eval/plot/colors.h"
#include "eval/plot/font.h"
#include "eval/plot/heatmap.h"
#include "eval/plot/line_plot.h"
#include "eval/plot/png_io.h"
#include "eval/plot/rank_heatmap.h"
#include "test_util.h"

namespace lrkv::plot {
namespace {

// Pixels in the rectangle that differ from `bg`.
int ink_in(const Canvas& cv, int x0, int y0, int x1, int y1, Rgb bg = kWhite) {
  int n = 0;
  for (int y = std::max(0, y0); y < std::min(cv.height(), y1); ++y) {
    for (int x = std::max(0, x0); x < std::min(cv.width(), x1); ++x) n += !(cv.at(x, y) == bg);
  }
  return n;
}

TEST(PlotFont, GlyphsHaveInkAndSpaceIsBlank) {
  for (char c = 33; c < 127; ++c) {
    const unsigned char* g = glyph_columns(c);
    int bits = 0;
    for (int i = 0; i < kGlyphW; ++i) bits += __builtin_popcount(g[i]);
    EXPECT_GT(bits, 0) << "glyph '" << c << "' is empty";
  }
  Canvas cv(40, 20);
  draw_text(cv, 0, 0, "   ", kBlack);
  EXPECT_EQ(ink_in(cv, 0, 0, 40, 20), 0);
  EXPECT_EQ(text_width("abc", 2), (3 * kCellW - 1) * 2);
}

TEST(PlotFont, TextRendersInsideItsBoxOnly) {
  Canvas cv(200, 60);
  draw_text(cv, 100, 30, "Hello 123", kBlack, 2, Align::kCenter, VAlign::kMiddle);
  const int w = text_width("Hello 123", 2), h = text_height(2);
  const int inside = ink_in(cv, 100 - w / 2, 30 - h / 2, 100 - w / 2 + w, 30 - h / 2 + h);
  EXPECT_GT(inside, 100);
  EXPECT_EQ(ink_in(cv, 0, 0, 200, 60), inside);
  Canvas v(60, 200);
  draw_text_vertical(v, 30, 100, "Vertical", kBlack, 2);
  EXPECT_GT(ink_in(v, 30 - h / 2, 100 - text_width("Vertical", 2) / 2, 30 + h,
                   100 + text_width("Vertical", 2)),
            80);
}

TEST(PlotCanvas, LinesMarkersAndClip) {
  Canvas cv(100, 100);
  cv.line(10, 50, 90, 50, kBlack, 3.0);
  EXPECT_EQ(cv.at(50, 50), kBlack);
  EXPECT_EQ(cv.at(50, 40), kWhite);
  cv.marker(20, 20, Marker::kSquare, 10, Rgb{255, 0, 0});
  EXPECT_EQ(cv.at(20, 20), (Rgb{255, 0, 0}));
  cv.set_clip(0, 0, 50, 100);
  cv.fill_rect(0, 80, 100, 5, kBlack);
  EXPECT_EQ(cv.at(40, 82), kBlack);
  EXPECT_EQ(cv.at(60, 82), kWhite);
  cv.reset_clip();
  Canvas d(100, 10);
  d.line(0, 5, 100, 5, kBlack, 2.0, 10.0);  // dashes of 10 px: ink in [0,10), none around 15
  EXPECT_GT(ink_in(d, 2, 0, 8, 10), 0);
  EXPECT_EQ(ink_in(d, 13, 0, 17, 10), 0);
}

TEST(PlotAxes, TicksAreNiceAndCoverTheRange) {
  const auto t = linear_ticks(0.0, 1.0, 5);
  ASSERT_GE(t.size(), 3u);
  EXPECT_EQ(t.front().label, "0");
  EXPECT_EQ(t.back().label, "1.0");
  const auto lt = log_ticks(0.9, 2000);
  ASSERT_FALSE(lt.empty());
  EXPECT_EQ(lt.front().value, 1.0);
  EXPECT_EQ(format_number(2.5e6), "2.5M");
  AxisSpec log;
  log.log = true;
  const auto r = resolve_range(log, {-1.0, 0.0, 10.0, 100.0});
  EXPECT_GT(r.first, 0.0);
  EXPECT_LT(r.first, 10.0);
  EXPECT_GT(r.second, 100.0);
}

TEST(PlotPng, LinePlotRoundTripsWithRightSizeAndLabels) {
  LinePlot p;
  p.title = "ppl vs KV bytes";
  p.x.label = "KV bytes per token";
  p.y.label = "perplexity";
  p.y.log = true;
  p.width = 640;
  p.height = 400;
  p.series.push_back({"palu", {100, 200, 400}, {40, 33, 31}});
  p.series.push_back({"lorc", {100, 200, 400}, {90, 45, 31}});
  p.hlines.push_back({30.7, "dense"});
  const std::string path = test::temp_dir() + "/plot.png";
  ASSERT_TRUE(write_line_plot(p, path).ok());
  auto back = read_png(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->width(), 640);
  EXPECT_EQ(back->height(), 400);
  EXPECT_EQ(back->rgb(), render_line_plot(p).rgb());
  // The title band and the x-label band at the bottom carry text.
  EXPECT_GT(ink_in(*back, 0, 0, 640, 36), 50);
  EXPECT_GT(ink_in(*back, 0, 400 - 30, 640, 400), 50);
  // No temporary file is left behind.
  std::ifstream tmp(path + ".tmp");
  EXPECT_FALSE(tmp.good());
}

TEST(PlotPng, ReadRejectsNonPngWithFileName) {
  const std::string path = test::temp_dir() + "/not.png";
  std::ofstream(path) << "hello";
  auto r = read_png(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path), std::string::npos);
  test::expect_error(write_png(Canvas(4, 4), "/nonexistent-dir/x.png"), ErrorCode::kIoError,
                     {"/nonexistent-dir/x.png"});
}

TEST(PlotHeatmap, ValidatesAndRendersCellsInColour) {
  Heatmap h;
  h.rows = 2;
  h.cols = 3;
  h.values = {0, 1, 2, 3, 4};
  EXPECT_FALSE(validate_heatmap(h).ok());
  h.values.push_back(5);
  h.row_labels = {"a"};
  EXPECT_FALSE(validate_heatmap(h).ok());
  h.row_labels = {"a", "b"};
  h.col_labels = {"x", "y", "z"};
  h.title = "t";
  auto cv = render_heatmap(h);
  ASSERT_TRUE(cv.ok());
  // Lowest and highest cells take the ends of the colour map.
  int dark = 0, yellow = 0;
  for (size_t i = 0; i < cv->rgb().size(); i += 3) {
    const Rgb c{cv->rgb()[i], cv->rgb()[i + 1], cv->rgb()[i + 2]};
    dark += c == viridis(0.0);
    yellow += c == viridis(1.0);
  }
  EXPECT_GT(dark, 100);
  EXPECT_GT(yellow, 100);
}

TEST(PlotHeatmap, RankHeatmapOfAUniformPlan) {
  LlamaConfig cfg = test::tiny_config(3, 4, 4, 8);
  auto plan = uniform_plan(cfg, "palu", "group:2", 0.5);
  ASSERT_TRUE(plan.ok());
  auto h = rank_heatmap(*plan, cfg);
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_EQ(h->rows, 3);
  EXPECT_EQ(h->cols, 4);  // 2 groups x (K, V)
  EXPECT_EQ(h->col_labels[0], "K0");
  EXPECT_EQ(h->col_labels[3], "V1");
  EXPECT_EQ(h->cell_text[0], "8");  // half of 2 heads x 8 dims
  const std::string path = test::temp_dir() + "/ranks.png";
  ASSERT_TRUE(write_rank_heatmap_png(*plan, cfg, path).ok());
  auto back = read_png(path);
  ASSERT_TRUE(back.ok());
  EXPECT_GT(back->width(), 100);
  RankPlan bad = *plan;
  bad.layers.pop_back();
  EXPECT_FALSE(write_rank_heatmap_png(bad, cfg, path).ok());
}

}  // namespace
}  // namespace lrkv::plot
