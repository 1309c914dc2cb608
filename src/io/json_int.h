// Integer fields of JSON documents read with a range check. nlohmann's get<int>() casts a JSON
// float (1e83) to int, which is undefined behaviour out of range (found by fuzzing the rank-plan
// reader); these accept only integral numbers within int and throw std::runtime_error naming the
// key otherwise, for readers that turn exceptions into one-line errors.
#pragma once

#include <nlohmann/json.hpp>

#include <climits>
#include <cstdint>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lrkv {

// j.at(key) as an integer in [lo, hi].
inline int64_t json_integer(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi) {
  const nlohmann::json& v = j.at(key);
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() <= static_cast<uint64_t>(hi)) return static_cast<int64_t>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    if (v.get<int64_t>() >= lo && v.get<int64_t>() <= hi) return v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();  // 2^63 bounds: exactly representable doubles
    if (d == std::floor(d) && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18 &&
        static_cast<int64_t>(d) >= lo && static_cast<int64_t>(d) <= hi) {
      return static_cast<int64_t>(d);
    }
  }
  throw std::runtime_error(std::string("'") + key + "' must be an integer in [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "], found " +
                           v.dump().substr(0, 40));
}

// j.at(key) as an int.
inline int json_int(const nlohmann::json& j, const char* key) {
  return static_cast<int>(json_integer(j, key, INT_MIN, INT_MAX));
}

// json_int(j, key) when present, else `fallback`.
inline int json_int_or(const nlohmann::json& j, const char* key, int fallback) {
  return j.contains(key) ? json_int(j, key) : fallback;
}

}  // namespace lrkv
