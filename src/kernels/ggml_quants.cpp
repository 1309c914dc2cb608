#include "kernels/ggml_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace lrkv {

namespace {

// Byte sizes of the GGML blocks (see quants.h for the layouts).
constexpr int kQ8_0Bytes = 34, kQ4_0Bytes = 18, kQ4_KBytes = 144, kQ6_KBytes = 210;
constexpr int kQK = 32, kQK_K = 256;

inline float load_f16(const uint8_t* p) {
  f16_bits h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
inline void store_f16(uint8_t* p, float f) {
  const f16_bits h = f32_to_f16(f);
  std::memcpy(p, &h, 2);
}

// One block each: `b` points at the block bytes, `y` receives its values.
void dequant_q8_0(const uint8_t* b, float* y) {  // [32]
  const float d = load_f16(b);
  const auto* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < kQK; ++j) y[j] = d * static_cast<float>(q[j]);
}

void dequant_q4_0(const uint8_t* b, float* y) {  // [32]
  const float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0x0F) - 8);
    y[j + kQK / 2] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}

// The 6-bit (scale, min) of sub-block j (0..7) of a q4_K block from its 12 packed bytes:
// j < 4: low 6 bits of bytes j / j+4; j >= 4: a nibble of byte j+4 plus the top 2 bits of
// bytes j-4 (scale) / j (min).
void q4k_scale_min(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void dequant_q4_k(const uint8_t* b, float* y) {  // [256]
  const float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  // Four chunks of 64 values share 32 bytes: low nibbles are sub-block 2c, high ones 2c+1.
  for (int c = 0; c < 4; ++c) {
    for (int half = 0; half < 2; ++half) {
      int sc = 0, m = 0;
      q4k_scale_min(2 * c + half, scales, &sc, &m);
      const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        const int q = half == 0 ? (qs[32 * c + l] & 0x0F) : (qs[32 * c + l] >> 4);
        y[64 * c + 32 * half + l] = dl * static_cast<float>(q) - ml;
      }
    }
  }
}

void dequant_q6_k(const uint8_t* b, float* y) {  // [256]
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  // Two halves of 128 values; in each, value 32*k + l (k = 0..3, l = 0..31) takes the low or
  // high nibble of ql[l + 32*(k&1)] and bits 2k..2k+1 of qh[l]; scale index 8*half + 2k + l/16.
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo = ql[64 * h + l + 32 * (k & 1)];
        const int low4 = k < 2 ? (lo & 0x0F) : (lo >> 4);
        const int high2 = (qh[32 * h + l] >> (2 * k)) & 3;
        const int q = (low4 | (high2 << 4)) - 32;
        const float s = d * static_cast<float>(sc[8 * h + 2 * k + l / 16]);
        y[128 * h + 32 * k + l] = s * static_cast<float>(q);
      }
    }
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

// Runs `fn` over every block of a block-quantized array, in parallel for large inputs.
void dequant_blocks(BlockFn fn, int block_bytes, int block_elems, const void* src, float* dst,
                    int64_t n_blocks) {
  const auto* s = static_cast<const uint8_t*>(src);
  global_pool().parallel_for(n_blocks, 4096, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) fn(s + b * block_bytes, dst + b * block_elems);
  });
}

}  // namespace

Status check_block_multiple(DType t, int64_t n, const char* what) {
  const int64_t be = dtype_block_elems(t);
  if (n < 0 || n % be != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} {}: {} elements is not a multiple of the block size {}", what,
                      dtype_name(t), n, be);
  }
  return Status::Ok();
}

Status dequantize_to_f32(DType t, const void* src, float* dst, int64_t n) {
  LRKV_RETURN_IF_ERROR(check_block_multiple(t, n, "dequantize"));
  const int64_t nb = n / dtype_block_elems(t);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, n * 4);
      return Status::Ok();
    case DType::kF16:
      convert_f16_to_f32(static_cast<const f16_bits*>(src), dst, n);
      return Status::Ok();
    case DType::kBF16:
      convert_bf16_to_f32(static_cast<const bf16_bits*>(src), dst, n);
      return Status::Ok();
    case DType::kQ8_0:
      dequant_blocks(dequant_q8_0, kQ8_0Bytes, kQK, src, dst, nb);
      return Status::Ok();
    case DType::kQ4_0:
      dequant_blocks(dequant_q4_0, kQ4_0Bytes, kQK, src, dst, nb);
      return Status::Ok();
    case DType::kQ4_K:
      dequant_blocks(dequant_q4_k, kQ4_KBytes, kQK_K, src, dst, nb);
      return Status::Ok();
    case DType::kQ6_K:
      dequant_blocks(dequant_q6_k, kQ6_KBytes, kQK_K, src, dst, nb);
      return Status::Ok();
    default:
      return make_error(ErrorCode::kUnsupported, "dequantisation of {} to f32 is not supported",
                        dtype_name(t));
  }
}

Status quantize_q8_0(const float* src, void* dst, int64_t n) {
  LRKV_RETURN_IF_ERROR(check_block_multiple(DType::kQ8_0, n, "quantize"));
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK, out += kQ8_0Bytes) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(out, d);
    auto* q = reinterpret_cast<int8_t*>(out + 2);
    for (int j = 0; j < kQK; ++j) q[j] = static_cast<int8_t>(std::round(src[j] * id));
  }
  return Status::Ok();
}

Status quantize_q4_0(const float* src, void* dst, int64_t n) {
  LRKV_RETURN_IF_ERROR(check_block_multiple(DType::kQ4_0, n, "quantize"));
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, src += kQK, out += kQ4_0Bytes) {
    float amax = 0.0f, m = 0.0f;  // m: the value of largest magnitude, sign kept
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(src[j]) > amax) {
        amax = std::fabs(src[j]);
        m = src[j];
      }
    }
    const float d = m / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_f16(out, d);
    auto code = [&](float x) {
      return static_cast<uint8_t>(std::min(15, static_cast<int>(std::floor(x * id + 8.5f))));
    };
    for (int j = 0; j < kQK / 2; ++j) {
      out[2 + j] = static_cast<uint8_t>(code(src[j]) | (code(src[j + kQK / 2]) << 4));
    }
  }
  return Status::Ok();
}

Status quantize_from_f32(DType t, const float* src, void* dst, int64_t n) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, n * 4);
      return Status::Ok();
    case DType::kF16:
      convert_f32_to_f16(src, static_cast<f16_bits*>(dst), n);
      return Status::Ok();
    case DType::kBF16:
      convert_f32_to_bf16(src, static_cast<bf16_bits*>(dst), n);
      return Status::Ok();
    case DType::kQ8_0:
      return quantize_q8_0(src, dst, n);
    case DType::kQ4_0:
      return quantize_q4_0(src, dst, n);
    default:
      return make_error(ErrorCode::kUnsupported, "quantisation of f32 to {} is not supported",
                        dtype_name(t));
  }
}

}  // namespace lrkv
