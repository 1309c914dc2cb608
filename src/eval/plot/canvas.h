// Canvas: an RGB raster (8 bits per channel, row-major, origin top-left) with anti-aliased
// primitives for plots: rectangles, thick (optionally dashed) line segments and markers.
// Shapes are drawn by coverage of a signed distance (one pixel of soft edge), blended over what
// is there. Coordinates are in pixels; x grows right, y grows down; pixel (i, j) covers
// [i, i+1) x [j, j+1) and its centre is (i + 0.5, j + 0.5). Drawing outside is clipped.
// Cost: each primitive touches its bounding box. Not thread-safe for concurrent drawing.
#pragma once

#include <cstdint>
#include <vector>

namespace lrkv::plot {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};
inline constexpr Rgb kGrey{128, 128, 128};
inline constexpr Rgb kLightGrey{225, 225, 225};

enum class Marker { kNone, kCircle, kSquare, kTriangle, kDiamond, kCross };

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite);
  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<uint8_t>& rgb() const { return px_; }  // [height, width, 3]
  std::vector<uint8_t>& rgb() { return px_; }

  Rgb at(int x, int y) const;
  void set(int x, int y, Rgb c);                  // clipped
  void blend(int x, int y, Rgb c, double alpha);  // alpha in [0, 1], clipped

  // Restricts drawing to [x0, x1) x [y0, y1) until reset_clip().
  void set_clip(int x0, int y0, int x1, int y1);
  void reset_clip() { set_clip(0, 0, w_, h_); }

  // Axis-aligned filled rectangle of integer pixels [x, x+w) x [y, y+h).
  void fill_rect(int x, int y, int w, int h, Rgb c);
  // One-pixel outline of the same rectangle.
  void outline_rect(int x, int y, int w, int h, Rgb c);
  // Segment from (x0, y0) to (x1, y1), `width` pixels wide, round caps. dash > 0 draws dashes
  // of `dash` pixels separated by gaps of the same length.
  void line(double x0, double y0, double x1, double y1, Rgb c, double width = 1.0,
            double dash = 0.0);
  // A polyline through the points, dashes continuing across vertices.
  void polyline(const std::vector<double>& xs, const std::vector<double>& ys, Rgb c,
                double width = 1.0, double dash = 0.0);
  // A filled marker of diameter `size` centred at (cx, cy) with a thin darker edge.
  void marker(double cx, double cy, Marker m, double size, Rgb c);

 private:
  void segment(double x0, double y0, double x1, double y1, Rgb c, double width);
  bool visible(int x, int y) const { return x >= cx0_ && y >= cy0_ && x < cx1_ && y < cy1_; }
  int w_, h_;
  int cx0_ = 0, cy0_ = 0, cx1_ = 0, cy1_ = 0;  // clip rectangle
  std::vector<uint8_t> px_;
};

}  // namespace lrkv::plot
