// GGUF building blocks shared by the reader and the writer: metadata value types and values,
// and the GGML tensor type ids lrkv understands.
// Spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace lrkv {

inline constexpr uint32_t kGgufMagic = 0x46554747u;  // "GGUF" read as little-endian u32
inline constexpr uint32_t kGgufDefaultAlignment = 32;

// Metadata value types (GGUF numbering).
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

const char* gguf_type_name(GgufType t);
// Byte size of a fixed-size scalar type; 0 for string and array.
int gguf_scalar_size(GgufType t);
bool gguf_type_valid(uint32_t t);

// One metadata value. Scalars live in u (unsigned, bool), i (signed) or f (float); strings in
// s. Arrays (all elements of type `elem`) keep their elements compactly, so memory stays within a
// small multiple of the file bytes: fixed-size scalars as their raw little-endian bytes in `raw`,
// strings in `strs`, nested arrays in `arr`.
struct GgufValue {
  GgufType type = GgufType::kU32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  GgufType elem = GgufType::kU8;
  std::string raw;                // arrays of scalars: count * gguf_scalar_size(elem) bytes
  std::vector<std::string> strs;  // arrays of strings
  std::vector<GgufValue> arr;     // arrays of arrays

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  // A scalar of `t` decoded from its little-endian bytes (t must be fixed-size).
  static GgufValue scalar_from_bytes(GgufType t, const void* bytes);
  static GgufValue str_array(std::vector<std::string> items);
  static GgufValue f32_array(const std::vector<float>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);
  static GgufValue array_of_arrays(std::vector<GgufValue> items);

  bool is_array() const { return type == GgufType::kArray; }
  bool is_integer() const;  // any integer type or bool
  bool is_float() const { return type == GgufType::kF32 || type == GgufType::kF64; }
  // The value of a number/bool as int64 (u64 above INT64_MAX saturates; floats truncate).
  int64_t as_int() const;
  // The value of a number/bool as double.
  double as_double() const;
  // Array length (0 for non-arrays).
  uint64_t size() const;
  // Element k of an array (k < size()).
  GgufValue at(uint64_t k) const;
  // JSON encoding (strings quoted and escaped, arrays as JSON arrays).
  std::string to_json() const;
};

// GGML tensor type ids: F32=0, F16=1, Q4_0=2, Q8_0=8, Q4_K=12, Q6_K=14, BF16=30.
// Returns false for ids lrkv does not read.
bool dtype_from_ggml_type(uint32_t id, DType* out);
// The GGML id of `t`, or -1 when t has none (f64, i32, i8 are not written).
int ggml_type_of(DType t);

}  // namespace lrkv
