// GGML block formats: hand-built blocks decode to values computed here from the format
// description (in double), quantise -> dequantise stays within the analytic error bound, and
// element counts that are not whole blocks are rejected.
#include "kernels/ggml_quants.h"

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/tensor.h"
#include "test_util.h"

namespace lrkv {
namespace {

void put_f16(std::vector<uint8_t>& b, size_t at, float v) {
  const f16_bits h = f32_to_f16(v);
  std::memcpy(b.data() + at, &h, 2);
}

std::vector<float> dequant(DType t, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(n);
  Status s = dequantize_to_f32(t, bytes.data(), out.data(), n);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-6 * (1 + std::fabs(want[i]))) << "element " << i;
  }
}

TEST(QuantsDequant, PlainFloatTypes) {
  const std::vector<float> x = {1.5f, -2.25f, 0.0f, 65504.0f};
  std::vector<f16_bits> h(4);
  std::vector<bf16_bits> b(4);
  for (int i = 0; i < 4; ++i) h[i] = f32_to_f16(x[i]), b[i] = f32_to_bf16(x[i]);
  std::vector<float> out(4);
  ASSERT_TRUE(dequantize_to_f32(DType::kF32, x.data(), out.data(), 4).ok());
  EXPECT_EQ(out, x);
  ASSERT_TRUE(dequantize_to_f32(DType::kF16, h.data(), out.data(), 4).ok());
  EXPECT_EQ(out, x);
  ASSERT_TRUE(dequantize_to_f32(DType::kBF16, b.data(), out.data(), 3).ok());
  EXPECT_EQ(std::vector<float>(out.begin(), out.begin() + 3),
            std::vector<float>(x.begin(), x.begin() + 3));
}

TEST(QuantsDequant, Q8_0HandBuiltBlocks) {
  std::vector<uint8_t> b(2 * 34);
  const double d[2] = {0.25, -3.0};
  std::vector<double> want;
  for (int blk = 0; blk < 2; ++blk) {
    put_f16(b, blk * 34, static_cast<float>(d[blk]));
    for (int j = 0; j < 32; ++j) {
      const int8_t q = static_cast<int8_t>(j * 8 - 128);  // -128 .. 120
      b[blk * 34 + 2 + j] = static_cast<uint8_t>(q);
      want.push_back(d[blk] * q);
    }
  }
  expect_close(dequant(DType::kQ8_0, b, 64), want);
}

TEST(QuantsDequant, Q4_0HandBuiltBlock) {
  std::vector<uint8_t> b(18);
  const double d = 0.5;
  put_f16(b, 0, 0.5f);
  std::vector<int> nib(32);
  for (int e = 0; e < 32; ++e) nib[e] = (e * 7 + 3) % 16;
  // Byte j: element j in the low nibble, element j + 16 in the high nibble.
  for (int j = 0; j < 16; ++j) b[2 + j] = static_cast<uint8_t>(nib[j] | (nib[j + 16] << 4));
  std::vector<double> want;
  for (int e = 0; e < 32; ++e) want.push_back((nib[e] - 8) * d);
  expect_close(dequant(DType::kQ4_0, b, 32), want);
}

// Packs 8 six-bit (scale, min) pairs into 12 bytes as q4_K stores them: bytes 0-3 hold scales
// 0-3 (low 6 bits) and the top 2 bits of scales 4-7; bytes 4-7 the same for mins; bytes 8-11
// the low 4 bits of scale 4+j (low nibble) and min 4+j (high nibble).
void pack_q4k_scales(const int sc[8], const int m[8], uint8_t* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

TEST(QuantsDequant, Q4_KHandBuiltBlock) {
  std::vector<uint8_t> b(144);
  const double d = 0.125, dmin = 0.0625;
  put_f16(b, 0, 0.125f);
  put_f16(b, 2, 0.0625f);
  const int sc[8] = {1, 63, 17, 40, 5, 33, 62, 48};
  const int m[8] = {0, 9, 63, 21, 50, 16, 3, 47};
  pack_q4k_scales(sc, m, b.data() + 4);
  // Value e is in sub-block j = e / 32; sub-blocks 2c and 2c+1 share bytes qs[32c .. 32c+31]
  // (low nibbles for 2c, high nibbles for 2c+1).
  std::vector<int> q(256);
  for (int e = 0; e < 256; ++e) q[e] = (e * 5 + e / 32) % 16;
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    uint8_t& byte = b[16 + 32 * (j / 2) + e % 32];
    byte |= static_cast<uint8_t>(j % 2 == 0 ? q[e] : q[e] << 4);
  }
  std::vector<double> want;
  for (int e = 0; e < 256; ++e) want.push_back(d * sc[e / 32] * q[e] - dmin * m[e / 32]);
  expect_close(dequant(DType::kQ4_K, b, 256), want);
}

TEST(QuantsDequant, Q6_KHandBuiltBlock) {
  std::vector<uint8_t> b(210);
  const double d = 0.01171875;  // exact in fp16
  put_f16(b, 208, static_cast<float>(d));
  int8_t scale[16];
  for (int i = 0; i < 16; ++i) scale[i] = static_cast<int8_t>(i * 17 - 128);
  std::memcpy(b.data() + 192, scale, 16);
  // Value e: half h = e / 128, r = e % 128, k = r / 32, l = r % 32. Low 4 bits in
  // ql[64h + l + 32(k % 2)] (low nibble for k < 2, high for k >= 2), high 2 bits in bits 2k, 2k+1
  // of qh[32h + l]; scale index e / 16.
  std::vector<int> q(256);
  for (int e = 0; e < 256; ++e) q[e] = (e * 37 + 11) % 64;
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    b[64 * h + l + 32 * (k % 2)] |= static_cast<uint8_t>((q[e] & 0xF) << (k < 2 ? 0 : 4));
    b[128 + 32 * h + l] |= static_cast<uint8_t>((q[e] >> 4) << (2 * k));
  }
  std::vector<double> want;
  for (int e = 0; e < 256; ++e) want.push_back(d * scale[e / 16] * (q[e] - 32));
  expect_close(dequant(DType::kQ6_K, b, 256), want);
}

TEST(QuantsDequant, RejectsPartialBlocks) {
  std::vector<uint8_t> bytes(1024);
  std::vector<float> out(512);
  for (auto [t, n] : {std::pair{DType::kQ8_0, 33},
                      {DType::kQ4_0, 16},
                      {DType::kQ4_K, 255},
                      {DType::kQ6_K, 300}}) {
    Status s = dequantize_to_f32(t, bytes.data(), out.data(), n);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << dtype_name(t);
    EXPECT_NE(s.message().find("block size"), std::string::npos) << s.message();
  }
  EXPECT_FALSE(quantize_q8_0(out.data(), bytes.data(), 31).ok());
  EXPECT_FALSE(quantize_q4_0(out.data(), bytes.data(), 48).ok());
}

// Random blocks of varied scale, plus an all-zero block and a constant block.
std::vector<float> test_values(int n_blocks) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::vector<float> x(n_blocks * 32);
  for (int b = 0; b < n_blocks; ++b) {
    const float scale = std::pow(10.0f, static_cast<float>(b % 7) - 3.0f);
    for (int j = 0; j < 32; ++j) x[b * 32 + j] = b == 0 ? 0.0f : b == 1 ? -2.5f : scale * nd(rng);
  }
  return x;
}

double block_amax(const float* x) {
  double a = 0;
  for (int j = 0; j < 32; ++j) a = std::max(a, std::fabs(static_cast<double>(x[j])));
  return a;
}

// Decoded fp16 scale of a block.
double stored_scale(const std::vector<uint8_t>& q, int block, int block_bytes) {
  f16_bits h;
  std::memcpy(&h, q.data() + block * block_bytes, 2);
  return f16_to_f32(h);
}

TEST(QuantsQuantize, Q8_0RoundTripWithinHalfStep) {
  const int nb = 40;
  const std::vector<float> x = test_values(nb);
  std::vector<uint8_t> q(nb * 34);
  ASSERT_TRUE(quantize_q8_0(x.data(), q.data(), x.size()).ok());
  const std::vector<float> y = dequant(DType::kQ8_0, q, x.size());
  for (int b = 0; b < nb; ++b) {
    const double d = block_amax(&x[b * 32]) / 127.0;  // the exact scale
    const double d16 = stored_scale(q, b, 34);        // the scale as stored (fp16)
    // Half a step, plus the fp16 rounding of the scale times the largest code.
    const double bound = d / 2 + 127 * std::fabs(d - d16) + 1e-6 * d;
    for (int j = 0; j < 32; ++j) {
      ASSERT_LE(std::fabs(static_cast<double>(y[b * 32 + j]) - x[b * 32 + j]), bound)
          << "block " << b << " element " << j;
    }
  }
}

TEST(QuantsQuantize, Q4_0RoundTripWithinHalfStep) {
  const int nb = 40;
  const std::vector<float> x = test_values(nb);
  std::vector<uint8_t> q(nb * 18);
  ASSERT_TRUE(quantize_q4_0(x.data(), q.data(), x.size()).ok());
  const std::vector<float> y = dequant(DType::kQ4_0, q, x.size());
  for (int b = 0; b < nb; ++b) {
    const float* xb = &x[b * 32];
    double m = 0;  // the value of largest magnitude, sign kept
    for (int j = 0; j < 32; ++j) m = std::fabs(xb[j]) > std::fabs(m) ? xb[j] : m;
    const double d = m / -8.0, d16 = stored_scale(q, b, 18);
    for (int j = 0; j < 32; ++j) {
      // Codes span -8..7: values with x/d >= 7.5 clamp to 7 (error up to |d|), others round.
      const double step = d != 0 && xb[j] / d >= 7.5 ? std::fabs(d) : std::fabs(d) / 2;
      const double bound = step + 8 * std::fabs(d - d16) + 1e-6 * std::fabs(d);
      ASSERT_LE(std::fabs(static_cast<double>(y[b * 32 + j]) - xb[j]), bound)
          << "block " << b << " element " << j;
    }
  }
}

TEST(QuantsQuantize, Q4_0MaxValueIsExact) {
  std::vector<float> x(32, 0.0f);
  x[3] = -6.0f;  // the extreme maps to code 0 -> -8 * d with d = 0.75
  x[4] = 3.0f;   // (q - 8) * 0.75 = 3 -> code 12
  std::vector<uint8_t> q(18);
  ASSERT_TRUE(quantize_from_f32(DType::kQ4_0, x.data(), q.data(), 32).ok());
  EXPECT_EQ(stored_scale(q, 0, 18), 0.75);
  EXPECT_EQ(q[2 + 3] & 0xF, 0);
  EXPECT_EQ(q[2 + 4] & 0xF, 12);
  const std::vector<float> y = dequant(DType::kQ4_0, q, 32);
  EXPECT_EQ(y[3], -6.0f);
  EXPECT_EQ(y[4], 3.0f);
  EXPECT_EQ(y[0], 0.0f);
}

}  // namespace
}  // namespace lrkv
