#include "kernels/quant_row.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/ggml_quants.h"
#include "kernels/bitpack.h"

namespace lrkv {

namespace {

constexpr float kF16Max = 65504.0f;

f16_bits f16_next_up(f16_bits h) {
  if (h == 0x8000) return 0x0001;
  return (h & 0x8000) ? static_cast<f16_bits>(h - 1) : static_cast<f16_bits>(h + 1);
}
f16_bits f16_next_down(f16_bits h) {
  if (h == 0x0000) return 0x8001;
  return (h & 0x8000) ? static_cast<f16_bits>(h + 1) : static_cast<f16_bits>(h - 1);
}

bool is_ggml(QuantScheme s) { return s == QuantScheme::kQ8_0 || s == QuantScheme::kQ4_0; }

void store_f16_at(uint8_t* p, f16_bits h) { std::memcpy(p, &h, 2); }

// Codes of one affine/symmetric segment, scales (and mins) written to dst.
void encode_scaled(const QuantFormat& f, const float* x, int n, uint8_t* dst, uint8_t* codes) {
  const int gs = f.group > 0 ? f.group : n;
  const int ng = segment_groups(f, n);
  const bool sym = f.scheme == QuantScheme::kSymmetric;
  const int q = (1 << (f.bits - 1)) - 1;  // symmetric half-range
  for (int g = 0; g < ng; ++g) {
    const int b = g * gs, e = std::min(n, b + gs);
    if (sym) {
      float amax = 0.0f;
      for (int i = b; i < e; ++i) amax = std::max(amax, std::fabs(x[i]));
      const f16_bits sh = f16_round_up(amax / static_cast<float>(q));
      store_f16_at(dst + 2 * g, sh);
      const float s = f16_to_f32(sh);
      for (int i = b; i < e; ++i) {
        float r = s > 0.0f ? std::round(x[i] / s) : 0.0f;
        r = std::clamp(r, static_cast<float>(-q), static_cast<float>(q));
        codes[i] = static_cast<uint8_t>(static_cast<int>(r) + q);
      }
    } else {
      float lo = x[b], hi = x[b];
      for (int i = b; i < e; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
      }
      const AffineRange r = affine_range(lo, hi, f.bits);
      store_f16_at(dst + 2 * g, r.scale);
      store_f16_at(dst + 2 * (ng + g), r.min);
      const float s = f16_to_f32(r.scale), m = f16_to_f32(r.min);
      for (int i = b; i < e; ++i) codes[i] = affine_code(x[i], s, m, f.bits);
    }
  }
}

}  // namespace

std::string QuantFormat::name() const {
  switch (scheme) {
    case QuantScheme::kQ8_0:
      return "q8_0";
    case QuantScheme::kQ4_0:
      return "q4_0";
    default:
      break;
  }
  return fmt::format("int{} {} g{}", bits, scheme == QuantScheme::kSymmetric ? "sym" : "asym",
                     group > 0 ? std::to_string(group) : std::string("-slice"));
}

Status QuantFormat::validate() const {
  if (scheme == QuantScheme::kQ8_0 || scheme == QuantScheme::kQ4_0) {
    if (bits != (scheme == QuantScheme::kQ8_0 ? 8 : 4) || group != 32) {
      return make_error(ErrorCode::kInvalidArgument, "{}: fixed 32-value blocks", name());
    }
    return Status::Ok();
  }
  const int min_bits = scheme == QuantScheme::kSymmetric ? 2 : 1;
  if (bits < min_bits || bits > 8) {
    return make_error(ErrorCode::kInvalidArgument, "{} quantisation needs {}..8 bits, got {}",
                      scheme == QuantScheme::kSymmetric ? "symmetric" : "asymmetric", min_bits,
                      bits);
  }
  if (group < 0)
    return make_error(ErrorCode::kInvalidArgument, "quantisation group must be >= 0, got {}",
                      group);
  return Status::Ok();
}

QuantFormat q8_0_format() { return {QuantScheme::kQ8_0, 8, 32}; }
QuantFormat q4_0_format() { return {QuantScheme::kQ4_0, 4, 32}; }

int segment_groups(const QuantFormat& f, int n) {
  if (n <= 0) return 0;
  const int gs = f.group > 0 ? f.group : n;
  return (n + gs - 1) / gs;
}

int64_t segment_bytes(const QuantFormat& f, int n) {
  switch (f.scheme) {
    case QuantScheme::kQ8_0:
      return int64_t{n} / 32 * 34;
    case QuantScheme::kQ4_0:
      return int64_t{n} / 32 * 18;
    case QuantScheme::kAffine:
      return int64_t{segment_groups(f, n)} * 4 + packed_bytes(n, f.bits);
    case QuantScheme::kSymmetric:
      return int64_t{segment_groups(f, n)} * 2 + packed_bytes(n, f.bits);
  }
  return 0;
}

Result<RowCodec> RowCodec::create(const QuantFormat& f, const std::vector<int>& lens) {
  LRKV_RETURN_IF_ERROR(f.validate());
  if (lens.empty())
    return make_error(ErrorCode::kInvalidArgument, "a quantized row needs segments");
  RowCodec c;
  c.format = f;
  for (size_t i = 0; i < lens.size(); ++i) {
    if (lens[i] <= 0)
      return make_error(ErrorCode::kInvalidArgument, "segment {} has length {}", i, lens[i]);
    if (is_ggml(f.scheme) && lens[i] % 32 != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{} needs slices of whole 32-value blocks; slice {} has {} "
                        "values",
                        f.name(), i, lens[i]);
    }
    c.segments.push_back({c.width, lens[i], c.row_bytes});
    c.width += lens[i];
    c.row_bytes += segment_bytes(f, lens[i]);
  }
  return c;
}

void encode_segment(const QuantFormat& f, const float* x, int n, uint8_t* dst) {
  if (f.scheme == QuantScheme::kQ8_0 || f.scheme == QuantScheme::kQ4_0) {
    const Status s =
        f.scheme == QuantScheme::kQ8_0 ? quantize_q8_0(x, dst, n) : quantize_q4_0(x, dst, n);
    LRKV_CHECK(s.ok(), "{}", s.to_string());
    return;
  }
  uint8_t stack[1024];
  std::vector<uint8_t> heap;
  uint8_t* codes = stack;
  if (n > 1024) {
    heap.resize(n);
    codes = heap.data();
  }
  encode_scaled(f, x, n, dst, codes);
  const int ng = segment_groups(f, n);
  pack_bits(codes, n, f.bits, dst + int64_t{ng} * (f.scheme == QuantScheme::kSymmetric ? 2 : 4));
}

void encode_row(const RowCodec& c, const float* x, uint8_t* row) {
  for (const RowSegment& s : c.segments) encode_segment(c.format, x + s.col, s.len, row + s.byte);
}

f16_bits f16_round_down(float x) {
  x = std::clamp(x, -kF16Max, kF16Max);
  f16_bits h = f32_to_f16(x);
  if (f16_to_f32(h) > x) h = f16_next_down(h);
  return h;
}

f16_bits f16_round_up(float x) {
  x = std::clamp(x, -kF16Max, kF16Max);
  f16_bits h = f32_to_f16(x);
  if (f16_to_f32(h) < x) h = f16_next_up(h);
  return h;
}

AffineRange affine_range(float lo, float hi, int bits) {
  AffineRange r;
  r.min = f16_round_down(lo);
  const float m = f16_to_f32(r.min);
  const float levels = static_cast<float>((1 << bits) - 1);
  r.scale = f16_round_up(std::max(0.0f, hi - m) / levels);
  return r;
}

uint8_t affine_code(float x, float s, float m, int bits) {
  if (!(s > 0.0f)) return 0;
  const float levels = static_cast<float>((1 << bits) - 1);
  const float r = std::clamp(std::round((x - m) / s), 0.0f, levels);
  return static_cast<uint8_t>(r);
}

}  // namespace lrkv
