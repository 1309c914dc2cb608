#include "io/gguf_value.h"

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/status.h"

namespace lrkv {

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::kU8:
      return "u8";
    case GgufType::kI8:
      return "i8";
    case GgufType::kU16:
      return "u16";
    case GgufType::kI16:
      return "i16";
    case GgufType::kU32:
      return "u32";
    case GgufType::kI32:
      return "i32";
    case GgufType::kF32:
      return "f32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "string";
    case GgufType::kArray:
      return "array";
    case GgufType::kU64:
      return "u64";
    case GgufType::kI64:
      return "i64";
    case GgufType::kF64:
      return "f64";
  }
  return "?";
}

int gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
      return 8;
    case GgufType::kString:
    case GgufType::kArray:
      return 0;
  }
  return 0;
}

bool gguf_type_valid(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue x;
  x.type = GgufType::kU32;
  x.u = v;
  return x;
}
GgufValue GgufValue::i32(int32_t v) {
  GgufValue x;
  x.type = GgufType::kI32;
  x.i = v;
  return x;
}
GgufValue GgufValue::f32(float v) {
  GgufValue x;
  x.type = GgufType::kF32;
  x.f = v;
  return x;
}
GgufValue GgufValue::boolean(bool v) {
  GgufValue x;
  x.type = GgufType::kBool;
  x.u = v ? 1 : 0;
  return x;
}
GgufValue GgufValue::str(std::string v) {
  GgufValue x;
  x.type = GgufType::kString;
  x.s = std::move(v);
  return x;
}
GgufValue GgufValue::scalar_from_bytes(GgufType t, const void* bytes) {
  GgufValue x;
  x.type = t;
  const auto* p = static_cast<const uint8_t*>(bytes);
  auto get = [&](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (t) {
    case GgufType::kU8:
      x.u = get(uint8_t{});
      break;
    case GgufType::kBool:
      x.u = get(uint8_t{}) != 0;
      break;
    case GgufType::kU16:
      x.u = get(uint16_t{});
      break;
    case GgufType::kU32:
      x.u = get(uint32_t{});
      break;
    case GgufType::kU64:
      x.u = get(uint64_t{});
      break;
    case GgufType::kI8:
      x.i = get(int8_t{});
      break;
    case GgufType::kI16:
      x.i = get(int16_t{});
      break;
    case GgufType::kI32:
      x.i = get(int32_t{});
      break;
    case GgufType::kI64:
      x.i = get(int64_t{});
      break;
    case GgufType::kF32:
      x.f = get(float{});
      break;
    case GgufType::kF64:
      x.f = get(double{});
      break;
    case GgufType::kString:
    case GgufType::kArray:
      LRKV_CHECK(false, "not a scalar type");
  }
  return x;
}

GgufValue GgufValue::str_array(std::vector<std::string> items) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem = GgufType::kString;
  x.strs = std::move(items);
  return x;
}

namespace {
template <typename T>
GgufValue raw_array(GgufType elem, const std::vector<T>& items) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem = elem;
  x.raw.assign(reinterpret_cast<const char*>(items.data()), items.size() * sizeof(T));
  return x;
}
}  // namespace

GgufValue GgufValue::f32_array(const std::vector<float>& items) {
  return raw_array(GgufType::kF32, items);
}
GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) {
  return raw_array(GgufType::kI32, items);
}
GgufValue GgufValue::array_of_arrays(std::vector<GgufValue> items) {
  GgufValue x;
  x.type = GgufType::kArray;
  x.elem = GgufType::kArray;
  x.arr = std::move(items);
  return x;
}

uint64_t GgufValue::size() const {
  if (!is_array()) return 0;
  if (elem == GgufType::kString) return strs.size();
  if (elem == GgufType::kArray) return arr.size();
  return raw.size() / gguf_scalar_size(elem);
}

GgufValue GgufValue::at(uint64_t k) const {
  LRKV_CHECK(is_array() && k < size(), "GgufValue::at({}) of size {}", k, size());
  if (elem == GgufType::kString) return str(strs[k]);
  if (elem == GgufType::kArray) return arr[k];
  return scalar_from_bytes(elem, raw.data() + k * gguf_scalar_size(elem));
}

bool GgufValue::is_integer() const {
  return type != GgufType::kF32 && type != GgufType::kF64 && type != GgufType::kString &&
         type != GgufType::kArray;
}

namespace {
bool is_signed(GgufType t) {
  return t == GgufType::kI8 || t == GgufType::kI16 || t == GgufType::kI32 || t == GgufType::kI64;
}
}  // namespace

int64_t GgufValue::as_int() const {
  if (is_signed(type)) return i;
  if (is_float()) return static_cast<int64_t>(f);
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(u > kMax ? kMax : u);
}

double GgufValue::as_double() const {
  if (is_float()) return f;
  if (is_signed(type)) return static_cast<double>(i);
  return static_cast<double>(u);
}

namespace {
nlohmann::json to_json_value(const GgufValue& v) {
  switch (v.type) {
    case GgufType::kString:
      return v.s;
    case GgufType::kBool:
      return v.u != 0;
    case GgufType::kF32:
    case GgufType::kF64:
      return v.f;
    case GgufType::kArray: {
      nlohmann::json a = nlohmann::json::array();
      for (uint64_t k = 0; k < v.size(); ++k) a.push_back(to_json_value(v.at(k)));
      return a;
    }
    default:
      return is_signed(v.type) ? nlohmann::json(v.i) : nlohmann::json(v.u);
  }
}
}  // namespace

std::string GgufValue::to_json() const {
  // Replace invalid UTF-8 rather than throwing.
  return to_json_value(*this).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool dtype_from_ggml_type(uint32_t id, DType* out) {
  switch (id) {
    case 0:
      *out = DType::kF32;
      return true;
    case 1:
      *out = DType::kF16;
      return true;
    case 2:
      *out = DType::kQ4_0;
      return true;
    case 8:
      *out = DType::kQ8_0;
      return true;
    case 12:
      *out = DType::kQ4_K;
      return true;
    case 14:
      *out = DType::kQ6_K;
      return true;
    case 30:
      *out = DType::kBF16;
      return true;
    default:
      return false;
  }
}

int ggml_type_of(DType t) {
  switch (t) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return 1;
    case DType::kQ4_0:
      return 2;
    case DType::kQ8_0:
      return 8;
    case DType::kQ4_K:
      return 12;
    case DType::kQ6_K:
      return 14;
    case DType::kBF16:
      return 30;
    default:
      return -1;
  }
}

}  // namespace lrkv
