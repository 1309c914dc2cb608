// f16/bf16 conversions against independent definitions (exhaustive over all 2^16 halves).
#include <cmath>
#include <random>

#include "core/dtype.h"
#include "test_util.h"

namespace lrkv {
namespace {

// Value of a half from its fields, computed with ldexp (an independent formula).
double half_value(uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 0) {
    v = std::ldexp(m, -24);
  } else if (e == 31) {
    v = m ? NAN : INFINITY;
  } else {
    v = std::ldexp(1024 + m, e - 25);
  }
  return s ? -v : v;
}

TEST(DTypeTest, F16ToF32IsExactForAllHalves) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const double want = half_value(static_cast<uint16_t>(h));
    const float got = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << h;
    }
  }
}

TEST(DTypeTest, F32ToF16RoundsToNearestEven) {
  // Every finite half round-trips; midpoints between neighbours round to the even one.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(f32_to_f16(f), h);
    ASSERT_EQ(f32_to_f16(-f), h | 0x8000u);
    if (h + 1 < 0x7c00) {
      const double mid = (half_value(h) + half_value(h + 1)) / 2;
      ASSERT_EQ(f32_to_f16(static_cast<float>(mid)), (h % 2 == 0) ? h : h + 1) << "midpoint above " << h;
    }
  }
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);          // overflow -> inf
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);      // rounds down to max half
  EXPECT_EQ(f32_to_f16(1e-9f), 0);              // underflow -> 0
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
}

TEST(DTypeTest, BulkConversionsMatchScalar) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.0f, 100.0f);
  std::vector<float> x(1003);
  for (auto& v : x) v = d(rng);
  std::vector<uint16_t> h(x.size()), b(x.size());
  std::vector<float> back(x.size());
  convert_f32_to_f16(x.data(), h.data(), x.size());
  convert_f16_to_f32(h.data(), back.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(h[i], f32_to_f16(x[i]));
    ASSERT_EQ(back[i], f16_to_f32(h[i]));
  }
  convert_f32_to_bf16(x.data(), b.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float r = bf16_to_f32(b[i]);
    ASSERT_LE(std::fabs(r - x[i]), std::fabs(x[i]) * std::ldexp(1.0, -8)) << i;
  }
}

TEST(DTypeTest, BlockSizes) {
  EXPECT_EQ(dtype_bytes(DType::kQ8_0, 64), 68);
  EXPECT_EQ(dtype_bytes(DType::kQ4_0, 32), 18);
  EXPECT_EQ(dtype_bytes(DType::kQ4_K, 256), 144);
  EXPECT_EQ(dtype_bytes(DType::kQ6_K, 512), 420);
  DType t;
  EXPECT_TRUE(dtype_from_name("bf16", &t));
  EXPECT_EQ(t, DType::kBF16);
  EXPECT_FALSE(dtype_from_name("f8", &t));
}

}  // namespace
}  // namespace lrkv
