// Calibration statistics <-> safetensors (F64 tensors + "lrkv.calibration" JSON metadata).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>

#include "compress/calibration.h"
#include "io/json_int.h"
#include "io/safetensors_file.h"

namespace lrkv {

namespace {

constexpr int kVersion = 1;

std::string key(int l, const char* what) { return fmt::format("blk.{}.{}", l, what); }

struct Owned {
  std::vector<std::vector<double>> bufs;
  std::vector<Tensor> tensors;
  std::vector<SafetensorsEntry> entries;
  void add(const std::string& name, std::vector<double> data, std::vector<int64_t> shape) {
    bufs.push_back(std::move(data));
    tensors.push_back(Tensor::view(DType::kF64, std::move(shape), bufs.back().data(), nullptr, name));
  }
};

Result<std::vector<double>> take(const SafetensorsFile& f, const std::string& path, const std::string& name,
                                 const std::vector<int64_t>& shape) {
  auto it = f.tensors.find(name);
  if (it == f.tensors.end()) {
    return make_error(ErrorCode::kCorruptFile, "{}: calibration tensor '{}' is missing", path, name);
  }
  const Tensor& t = it->second;
  if (t.dtype() != DType::kF64 || t.shape() != shape) {
    return make_error(ErrorCode::kCorruptFile, "{}: calibration tensor '{}' is {} {}, expected f64 {}", path,
                      name, dtype_name(t.dtype()), t.shape_str(), shape_to_string(shape));
  }
  std::vector<double> v(t.numel());
  std::memcpy(v.data(), t.data(), v.size() * 8);
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: calibration tensor '{}' has a non-finite value ({}) at index {}; "
                        "expected finite moments",
                        path, name, v[i], i);
    }
  }
  return v;
}

Result<Mat> take_mat(const SafetensorsFile& f, const std::string& path, const std::string& name, int64_t n) {
  LRKV_ASSIGN_OR_RETURN(auto v, take(f, path, name, {n, n}));
  Mat m(n, n);
  m.a = std::move(v);
  return m;
}

}  // namespace

Status save_calibration(const CalibrationStats& s, const std::string& path) {
  // buffers must not move while tensors view them: reserve up front.
  Owned o;
  o.bufs.reserve(s.layers.size() * 10 + 1);
  o.tensors.reserve(s.layers.size() * 10 + 1);
  const int64_t d = s.d_model, kv = s.kv_dim(), half = s.head_dim / 2, H = s.n_kv_head;
  for (int l = 0; l < s.n_layer; ++l) {
    const LayerCalibration& L = s.layers[l];
    o.add(key(l, "xtx"), L.xtx.a, {d, d});
    const std::pair<const char*, const MomentStats*> moments[] = {{"k_pre", &L.k_pre}, {"k_post", &L.k_post}, {"v", &L.v}};
    for (const auto& [name, m] : moments) {
      o.add(key(l, (std::string(name) + ".sum").c_str()), m->sum, {kv});
      o.add(key(l, (std::string(name) + ".sxx").c_str()), m->sxx.a, {kv, kv});
    }
    std::vector<double> re(L.k_freq.size()), im(L.k_freq.size());
    for (size_t i = 0; i < re.size(); ++i) {
      re[i] = L.k_freq[i].real();
      im[i] = L.k_freq[i].imag();
    }
    o.add(key(l, "k_freq.re"), std::move(re), {half, H, H});
    o.add(key(l, "k_freq.im"), std::move(im), {half, H, H});
  }
  for (const Tensor& t : o.tensors) {
    const double* v = static_cast<const double*>(t.data());
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (!std::isfinite(v[i])) {
        return make_error(ErrorCode::kInvalidArgument,
                          "{}: calibration statistic '{}' has a non-finite value ({}) at element {}; the "
                          "model's activations overflowed; nothing written", path, t.name(), v[i], i);
      }
    }
    o.entries.push_back({t.name(), &t});
  }
  nlohmann::json j = {{"version", kVersion}, {"model", s.model_name}, {"text", s.text},
                      {"n_tokens", s.n_tokens}, {"d_model", s.d_model}, {"n_layer", s.n_layer},
                      {"n_kv_head", s.n_kv_head}, {"head_dim", s.head_dim}};
  return write_safetensors(path, o.entries, {{"lrkv.calibration", j.dump()}});
}

Result<CalibrationStats> load_calibration(const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(SafetensorsFile f, read_safetensors(path));
  auto it = f.metadata.find("lrkv.calibration");
  if (it == f.metadata.end()) {
    return make_error(ErrorCode::kCorruptFile, "{}: not an lrkv calibration file (no 'lrkv.calibration' "
                      "metadata)", path);
  }
  const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
  CalibrationStats s;
  try {
    if (json_int(j, "version") != kVersion) {
      return make_error(ErrorCode::kUnsupported, "{}: calibration version {} (expected {})", path,
                        json_int(j, "version"), kVersion);
    }
    s.model_name = j.at("model").get<std::string>();
    s.text = j.at("text").get<std::string>();
    // Integers only: a float such as 1e308 must not be converted to int.
    auto integer = [&](const char* k) {
      const nlohmann::json& v = j.at(k);
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (int64_t{1} << 40)) {
        throw std::runtime_error(fmt::format("'{}' = {} is not an integer in range", k, v.dump()));
      }
      return v.get<int64_t>();
    };
    s.n_tokens = integer("n_tokens");
    const int64_t d = integer("d_model"), L = integer("n_layer"), H = integer("n_kv_head"), hd = integer("head_dim");
    if (d > (1 << 20) || L > 4096 || H > 4096 || hd > 4096 || H * hd > (1 << 20)) {
      throw std::runtime_error(fmt::format("implausible sizes d_model {}, {} layers, {} KV heads x head_dim {}", d, L, H, hd));
    }
    s.d_model = static_cast<int>(d);
    s.n_layer = static_cast<int>(L);
    s.n_kv_head = static_cast<int>(H);
    s.head_dim = static_cast<int>(hd);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kCorruptFile, "{}: bad 'lrkv.calibration' metadata: {}", path, e.what());
  }
  if (s.n_tokens <= 0 || s.d_model <= 0 || s.n_layer <= 0 || s.n_kv_head <= 0 || s.head_dim <= 0 ||
      s.head_dim % 2 || s.n_layer > 4096 || s.d_model > (1 << 20)) {
    return make_error(ErrorCode::kCorruptFile, "{}: implausible calibration sizes", path);
  }
  const int64_t d = s.d_model, kv = s.kv_dim(), half = s.head_dim / 2, H = s.n_kv_head;
  s.layers.resize(s.n_layer);
  for (int l = 0; l < s.n_layer; ++l) {
    LayerCalibration& L = s.layers[l];
    LRKV_ASSIGN_OR_RETURN(L.xtx, take_mat(f, path, key(l, "xtx"), d));
    const std::pair<const char*, MomentStats*> moments[] = {{"k_pre", &L.k_pre}, {"k_post", &L.k_post}, {"v", &L.v}};
    for (const auto& [name, m] : moments) {
      LRKV_ASSIGN_OR_RETURN(m->sum, take(f, path, key(l, (std::string(name) + ".sum").c_str()), {kv}));
      LRKV_ASSIGN_OR_RETURN(m->sxx, take_mat(f, path, key(l, (std::string(name) + ".sxx").c_str()), kv));
    }
    LRKV_ASSIGN_OR_RETURN(auto re, take(f, path, key(l, "k_freq.re"), {half, H, H}));
    LRKV_ASSIGN_OR_RETURN(auto im, take(f, path, key(l, "k_freq.im"), {half, H, H}));
    L.k_freq.resize(re.size());
    for (size_t i = 0; i < re.size(); ++i) L.k_freq[i] = {re[i], im[i]};
  }
  return s;
}

Status check_calibration_matches(const CalibrationStats& s, const LlamaConfig& c, const std::string& path) {
  if (s.d_model != c.d_model || s.n_layer != c.n_layer || s.n_kv_head != c.n_kv_head || s.head_dim != c.head_dim) {
    return make_error(ErrorCode::kInvalidArgument,
                      "{}: calibration is for d_model {}, {} layers, {} KV heads x {}; the model has "
                      "{}, {}, {} x {}", path, s.d_model, s.n_layer, s.n_kv_head, s.head_dim, c.d_model,
                      c.n_layer, c.n_kv_head, c.head_dim);
  }
  return check_calibration_finite(s, path);
}

}  // namespace lrkv
