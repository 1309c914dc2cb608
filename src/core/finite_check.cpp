#include "core/finite_check.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/thread_pool.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace lrkv {

namespace {

// Elements per parallel_for item: large enough that scheduling is negligible.
constexpr int64_t kChunk = int64_t{1} << 18;

// Non-finite bit patterns: exponent all ones. After clearing the sign, a value is non-finite iff
// its magnitude bits exceed the largest finite pattern.
constexpr uint32_t kF32MaxFinite = 0x7f7fffffu;
constexpr uint16_t kF16MaxFinite = 0x7bffu;
constexpr uint16_t kBF16MaxFinite = 0x7f7fu;

int64_t scan_scalar32(const uint32_t* p, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    if ((p[i] & 0x7fffffffu) > kF32MaxFinite) return i;
  }
  return -1;
}

int64_t scan_scalar16(const uint16_t* p, int64_t begin, int64_t end, uint16_t max_finite) {
  for (int64_t i = begin; i < end; ++i) {
    if ((p[i] & 0x7fffu) > max_finite) return i;
  }
  return -1;
}

// First bad index in [begin, end) of 32-bit patterns; a vector pass finds the first bad group of
// 32, the scalar pass the element inside it.
int64_t scan32(const uint32_t* p, int64_t begin, int64_t end) {
  int64_t i = begin;
#if defined(__AVX2__)
  const __m256i mask = _mm256_set1_epi32(0x7fffffff), lim = _mm256_set1_epi32(kF32MaxFinite);
  for (; i + 32 <= end; i += 32) {
    __m256i bad = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8 * k));
      bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(_mm256_and_si256(v, mask), lim));
    }
    if (!_mm256_testz_si256(bad, bad)) return scan_scalar32(p, i, i + 32);
  }
#endif
  return scan_scalar32(p, i, end);
}

int64_t scan16(const uint16_t* p, int64_t begin, int64_t end, uint16_t max_finite) {
  int64_t i = begin;
#if defined(__AVX2__)
  const __m256i mask = _mm256_set1_epi16(0x7fff), lim = _mm256_set1_epi16(max_finite);
  for (; i + 64 <= end; i += 64) {
    __m256i bad = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 16 * k));
      bad = _mm256_or_si256(bad, _mm256_cmpgt_epi16(_mm256_and_si256(v, mask), lim));
    }
    if (!_mm256_testz_si256(bad, bad)) return scan_scalar16(p, i, i + 64, max_finite);
  }
#endif
  return scan_scalar16(p, i, end, max_finite);
}

int64_t scan_range(DType dtype, const void* data, int64_t begin, int64_t end) {
  switch (dtype) {
    case DType::kF32: return scan32(static_cast<const uint32_t*>(data), begin, end);
    case DType::kF16: return scan16(static_cast<const uint16_t*>(data), begin, end, kF16MaxFinite);
    case DType::kBF16: return scan16(static_cast<const uint16_t*>(data), begin, end, kBF16MaxFinite);
    default: return -1;
  }
}

double element_value(DType dtype, const void* data, int64_t i) {
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
    default: return 0.0;
  }
}

}  // namespace

int64_t first_non_finite(DType dtype, const void* data, int64_t n) {
  if (n <= kChunk) return scan_range(dtype, data, 0, n);
  std::atomic<int64_t> first{INT64_MAX};
  global_pool().parallel_for((n + kChunk - 1) / kChunk, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1 && c * kChunk < first.load(std::memory_order_relaxed); ++c) {
      const int64_t bad = scan_range(dtype, data, c * kChunk, std::min(n, (c + 1) * kChunk));
      if (bad < 0) continue;
      int64_t cur = first.load();
      while (bad < cur && !first.compare_exchange_weak(cur, bad)) {
      }
      break;
    }
  });
  return first.load() == INT64_MAX ? -1 : first.load();
}

std::string flat_index_to_string(const std::vector<int64_t>& shape, int64_t i) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    const int64_t s = std::max<int64_t>(shape[d], 1);
    idx[d] = i % s;
    i /= s;
  }
  return shape_to_string(idx);
}

Status check_finite(const Tensor& t, const std::string& source) {
  if (t.empty() || dtype_is_quantized(t.dtype())) return Status::Ok();
  const int64_t bad = first_non_finite(t.dtype(), t.data(), t.numel());
  if (bad < 0) return Status::Ok();
  const double v = element_value(t.dtype(), t.data(), bad);
  return make_error(ErrorCode::kCorruptFile,
                    "{}: tensor '{}' ({} {}) has a non-finite value ({}) at index {} = {}; "
                    "expected finite weights",
                    source, t.name(), dtype_name(t.dtype()), t.shape_str(),
                    std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"), bad,
                    flat_index_to_string(t.shape(), bad));
}

}  // namespace lrkv
