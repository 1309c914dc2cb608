// A 5x7 bitmap font for printable ASCII (32..126) with one extra row for descenders (g j p q y),
// drawn in a 6x9 cell (one column of spacing, one blank row above) and scaled by an integer
// factor. Characters outside ASCII are drawn as '?'. Text is one line.
#pragma once

#include <string_view>

#include "eval/plot/canvas.h"

namespace lrkv::plot {

inline constexpr int kGlyphW = 5, kGlyphH = 8;  // inked area: 7 rows + descender row
inline constexpr int kCellW = 6, kCellH = 9;    // advance and line height at scale 1

enum class Align { kLeft, kCenter, kRight };
enum class VAlign { kTop, kMiddle, kBottom };

// Column bitmaps of one glyph: 5 bytes, bit r (0 = top, 6 = baseline, 7 = descender) set where
// row r is inked.
const unsigned char* glyph_columns(char c);

int text_width(std::string_view s, int scale = 1);  // pixels, without trailing spacing
int text_height(int scale = 1);                     // kCellH * scale

// Draws `s` anchored at (x, y) per the alignments (x: left/centre/right edge; y:
// top/middle/bottom).
void draw_text(Canvas& cv, int x, int y, std::string_view s, Rgb color, int scale = 1,
               Align align = Align::kLeft, VAlign valign = VAlign::kTop);
// Draws `s` rotated 90 degrees counter-clockwise (reads bottom to top), centred at (cx, cy).
void draw_text_vertical(Canvas& cv, int cx, int cy, std::string_view s, Rgb color, int scale = 1);

}  // namespace lrkv::plot
