// Bit packing and the row codec (kernels/bitpack.h, kernels/quant_row.h): packing round-trips
// bit-exactly for every width and odd lengths; decoding (cpu) equals the scalar reference; the
// quantisation error stays within the analytic bound s/2 with s the stored fp16 scale; q8_0/q4_0
// segments are bit-identical to llama.cpp's blocks; byte counts match an independent formula.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/ggml_quants.h"
#include "kernels/bitpack.h"
#include "kernels/quant_row.h"
#include "test_util.h"

namespace lrkv {
namespace {

using test::randn;

float f16_at(const uint8_t* p) {
  f16_bits h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

TEST(BitPack, RoundTripsEveryWidthAndLength) {
  std::mt19937 rng(1);
  for (int bits = 1; bits <= 8; ++bits) {
    for (int n : {1, 2, 3, 5, 7, 8, 9, 13, 31, 33, 63, 64, 65, 100, 257}) {
      std::vector<uint8_t> codes(n);
      for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
      // Guard bytes after the stream catch writes past packed_bytes.
      std::vector<uint8_t> packed(packed_bytes(n, bits) + 4, 0xAB);
      pack_bits(codes.data(), n, bits, packed.data());
      for (int g = 0; g < 4; ++g)
        ASSERT_EQ(packed[packed_bytes(n, bits) + g], 0xAB) << bits << " bits, n " << n;
      // Padding bits of the last byte are zero.
      const int used = (n * bits) % 8;
      if (used) EXPECT_EQ(packed[packed_bytes(n, bits) - 1] >> used, 0) << bits << " bits, n " << n;
      for (int first : {0, 1, n / 2, n - 1}) {
        if (first < 0 || first >= n) continue;
        const int m = n - first;
        std::vector<uint8_t> a(m), b(m);
        ref::unpack_bits(packed.data(), first, m, bits, a.data());
        cpu::unpack_bits(packed.data(), first, m, bits, b.data());
        for (int i = 0; i < m; ++i) {
          ASSERT_EQ(a[i], codes[first + i])
              << "ref " << bits << " bits, n " << n << " first " << first << " i " << i;
          ASSERT_EQ(b[i], codes[first + i])
              << "cpu " << bits << " bits, n " << n << " first " << first << " i " << i;
        }
      }
    }
  }
}

TEST(BitPack, ThreeBitLayoutIsLsbFirst) {
  // codes 1..8 (mod 8) at 3 bits: stream bits 001 010 011 100 101 110 111 000, LSB first.
  const uint8_t codes[8] = {1, 2, 3, 4, 5, 6, 7, 0};
  uint8_t out[3];
  pack_bits(codes, 8, 3, out);
  uint32_t want = 0;
  for (int i = 0; i < 8; ++i) want |= static_cast<uint32_t>(codes[i]) << (3 * i);
  EXPECT_EQ(out[0], want & 0xFF);
  EXPECT_EQ(out[1], (want >> 8) & 0xFF);
  EXPECT_EQ(out[2], (want >> 16) & 0xFF);
}

TEST(Fp16Rounding, DirectedRoundingBracketsTheValue) {
  for (float x : {0.0f, 1e-9f, -1e-9f, 0.1f, -0.1f, 1.0f / 3, -7.77f, 1000.3f, 65504.0f, 70000.0f,
                  -70000.0f}) {
    const float lo = f16_to_f32(f16_round_down(x)), hi = f16_to_f32(f16_round_up(x));
    const float xc = std::clamp(x, -65504.0f, 65504.0f);
    EXPECT_LE(lo, xc) << x;
    EXPECT_GE(hi, xc) << x;
    EXPECT_LE(hi - lo, std::max(std::fabs(xc) * 1.0f / 512, 1e-7f))
        << x;  // adjacent (or equal) halves
  }
}

struct CodecCase {
  QuantScheme scheme;
  int bits, group;
};

// Independent byte formula: per segment ceil(n/group) scale(+min) pairs of 2 bytes, codes of
// `bits` bits rounded up to whole bytes.
int64_t formula_bytes(const CodecCase& c, int n) {
  const int gs = c.group > 0 ? c.group : n;
  const int64_t groups = (n + gs - 1) / gs;
  const int64_t meta = c.scheme == QuantScheme::kAffine ? 4 : 2;
  return groups * meta + (int64_t{n} * c.bits + 7) / 8;
}

class CodecTest : public ::testing::TestWithParam<CodecCase> {};

TEST_P(CodecTest, ErrorWithinBoundAndDecodersAgree) {
  const CodecCase c = GetParam();
  const QuantFormat f{c.scheme, c.bits, c.group};
  ASSERT_TRUE(f.validate().ok());
  const std::vector<int> lens = {7, 32, 45, 1, 100, 64};
  auto codec = RowCodec::create(f, lens);
  ASSERT_TRUE(codec.ok()) << codec.status().to_string();
  int64_t want_bytes = 0;
  for (int n : lens) want_bytes += formula_bytes(c, n);
  EXPECT_EQ(codec->row_bytes, want_bytes);
  EXPECT_EQ(codec->width, 249);
  for (int trial = 0; trial < 20; ++trial) {
    auto x = randn(codec->width, 100 + trial, trial % 3 == 0 ? 0.01f : 3.0f);
    if (trial == 1) std::fill(x.begin(), x.begin() + 40, 0.25f);  // constant groups
    if (trial == 2) x[3] = 50.0f;                                 // an outlier
    if (trial == 3)
      for (auto& v : x) v = std::fabs(v);  // one-signed
    std::vector<uint8_t> row(codec->row_bytes + 3, 0xCD);
    encode_row(*codec, x.data(), row.data());
    for (int g = 0; g < 3; ++g) ASSERT_EQ(row[codec->row_bytes + g], 0xCD);
    std::vector<float> a(codec->width), b(codec->width);
    cpu::decode_row(*codec, row.data(), b.data());
    for (const RowSegment& s : codec->segments) {
      ref::decode_segment(f, row.data() + s.byte, s.len, a.data() + s.col);
      const int gs = c.group > 0 ? c.group : s.len;
      for (int i = 0; i < s.len; ++i) {
        ASSERT_EQ(a[s.col + i], b[s.col + i])
            << "cpu vs ref decode, segment at " << s.col << " i " << i;
        const int g = i / gs;
        const float scale = f16_at(row.data() + s.byte + 2 * g);
        const float mn = c.scheme == QuantScheme::kAffine
                             ? f16_at(row.data() + s.byte + 2 * (segment_groups(f, s.len) + g))
                             : 0.0f;
        const double xv = x[s.col + i];
        // s/2, plus the float rounding of (x - m)/s and of s*u + m.
        const double tol =
            scale / 2.0 + 4.0 * 5.96e-8 * (std::fabs(xv) + std::fabs(mn) + scale * 255.0);
        ASSERT_LE(std::fabs(xv - a[s.col + i]), tol)
            << f.name() << " trial " << trial << " col " << s.col + i << " x " << xv << " decoded "
            << a[s.col + i] << " scale " << scale;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, CodecTest,
    ::testing::Values(
        CodecCase{QuantScheme::kAffine, 8, 32}, CodecCase{QuantScheme::kAffine, 4, 32},
        CodecCase{QuantScheme::kAffine, 3, 32}, CodecCase{QuantScheme::kAffine, 2, 32},
        CodecCase{QuantScheme::kAffine, 3, 0}, CodecCase{QuantScheme::kAffine, 2, 5},
        CodecCase{QuantScheme::kAffine, 1, 16}, CodecCase{QuantScheme::kSymmetric, 8, 32},
        CodecCase{QuantScheme::kSymmetric, 4, 16}, CodecCase{QuantScheme::kSymmetric, 3, 32},
        CodecCase{QuantScheme::kSymmetric, 2, 0}, CodecCase{QuantScheme::kSymmetric, 3, 7}),
    [](const auto& info) {
      return std::string(info.param.scheme == QuantScheme::kAffine ? "asym" : "sym") +
             std::to_string(info.param.bits) + "_g" + std::to_string(info.param.group);
    });

TEST(Codec, GgmlSegmentsAreLlamaCppBlocks) {
  for (QuantFormat f : {q8_0_format(), q4_0_format()}) {
    auto codec = RowCodec::create(f, {64, 32, 128});
    ASSERT_TRUE(codec.ok());
    const int64_t block = f.scheme == QuantScheme::kQ8_0 ? 34 : 18;
    EXPECT_EQ(codec->row_bytes, (64 + 32 + 128) / 32 * block);
    const auto x = randn(codec->width, 7, 2.0f);
    std::vector<uint8_t> row(codec->row_bytes), blocks(codec->row_bytes);
    encode_row(*codec, x.data(), row.data());
    ASSERT_TRUE(quantize_from_f32(f.scheme == QuantScheme::kQ8_0 ? DType::kQ8_0 : DType::kQ4_0,
                                  x.data(), blocks.data(), codec->width)
                    .ok());
    EXPECT_EQ(row, blocks) << f.name();
    std::vector<float> a(codec->width), b(codec->width), want(codec->width);
    ASSERT_TRUE(dequantize_to_f32(f.scheme == QuantScheme::kQ8_0 ? DType::kQ8_0 : DType::kQ4_0,
                                  blocks.data(), want.data(), codec->width)
                    .ok());
    cpu::decode_row(*codec, row.data(), b.data());
    for (const RowSegment& s : codec->segments)
      ref::decode_segment(f, row.data() + s.byte, s.len, a.data() + s.col);
    EXPECT_EQ(a, want) << f.name();
    EXPECT_EQ(b, want) << f.name();
  }
}

TEST(Codec, RejectsBadFormats) {
  EXPECT_FALSE(RowCodec::create(q8_0_format(), {48}).ok());  // not whole blocks
  EXPECT_FALSE(RowCodec::create(q4_0_format(), {6}).ok());
  EXPECT_FALSE((QuantFormat{QuantScheme::kAffine, 9, 32}).validate().ok());
  EXPECT_FALSE((QuantFormat{QuantScheme::kSymmetric, 1, 32}).validate().ok());
  EXPECT_FALSE((QuantFormat{QuantScheme::kAffine, 4, -1}).validate().ok());
  EXPECT_FALSE(RowCodec::create(QuantFormat{}, {}).ok());
  EXPECT_FALSE(RowCodec::create(QuantFormat{}, {4, 0}).ok());
}

}  // namespace
}  // namespace lrkv
