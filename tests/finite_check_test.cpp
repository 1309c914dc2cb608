// Non-finite weights: first_non_finite finds the first NaN/Inf of f32/f16/bf16 data at every
// position (vector body, scalar tail, across the parallel chunks) and never flags the largest
// finite values; load_model refuses a GGUF / safetensors file holding one, naming the tensor and
// the first bad index (quantized tensors after dequantisation), unless the check is turned off.
#include <cmath>
#include <cstring>
#include <limits>

#include "io/model_io.h"
#include "core/finite_check.h"
#include "kernels/ggml_quants.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

// n elements of `dtype`, all finite (the largest finite magnitude, alternating sign, plus
// subnormals and -0), as raw bytes.
std::vector<uint8_t> finite_data(DType dtype, int64_t n) {
  std::vector<uint8_t> b(static_cast<size_t>(dtype_bytes(dtype, n)));
  for (int64_t i = 0; i < n; ++i) {
    if (dtype == DType::kF32) {
      const float v = i % 3 == 0 ? std::numeric_limits<float>::max() : (i % 3 == 1 ? -0.0f : 1e-42f);
      std::memcpy(b.data() + 4 * i, &v, 4);
    } else {
      const uint16_t max_finite = dtype == DType::kF16 ? 0x7bff : 0x7f7f;
      const uint16_t v = i % 3 == 0 ? max_finite : (i % 3 == 1 ? 0xfbff & (max_finite | 0x8000) : 0x0001);
      std::memcpy(b.data() + 2 * i, &v, 2);
    }
  }
  return b;
}

// Puts NaN (kind 0), +Inf (1) or -Inf (2) at element i.
void poison(DType dtype, std::vector<uint8_t>* b, int64_t i, int kind) {
  if (dtype == DType::kF32) {
    const float v = kind == 0 ? std::nanf("") : (kind == 1 ? INFINITY : -INFINITY);
    std::memcpy(b->data() + 4 * i, &v, 4);
    return;
  }
  const uint16_t inf = dtype == DType::kF16 ? 0x7c00 : 0x7f80;
  const uint16_t v = kind == 0 ? inf | 1 : (kind == 1 ? inf : inf | 0x8000);
  std::memcpy(b->data() + 2 * i, &v, 2);
}

TEST(FiniteCheck, FindsTheFirstBadElementAnywhere) {
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int64_t n : {int64_t{1}, int64_t{31}, int64_t{64}, int64_t{1000}, (int64_t{3} << 18) + 5}) {
      const std::vector<uint8_t> clean = finite_data(dtype, n);
      EXPECT_EQ(first_non_finite(dtype, clean.data(), n), -1) << dtype_name(dtype) << " n=" << n;
      for (int64_t at : {int64_t{0}, n / 2, n - 1}) {
        for (int kind = 0; kind < 3; ++kind) {
          std::vector<uint8_t> b = clean;
          poison(dtype, &b, at, kind);
          if (at + 1 < n) poison(dtype, &b, n - 1, 0);  // a later bad value is not the answer
          EXPECT_EQ(first_non_finite(dtype, b.data(), n), at)
              << dtype_name(dtype) << " n=" << n << " at=" << at << " kind=" << kind;
        }
      }
    }
  }
}

TEST(FiniteCheck, MessageNamesTensorValueAndIndex) {
  Tensor t = Tensor::zeros(DType::kF32, {3, 5}, "blk.0.attn_q.weight");
  t.f32()[7] = -INFINITY;
  const Status s = check_finite(t, "m.gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kCorruptFile);
  for (const char* want : {"m.gguf", "'blk.0.attn_q.weight'", "-inf", "index 7 = [1, 2]"}) {
    EXPECT_NE(s.message().find(want), std::string::npos) << want << " in: " << s.message();
  }
}

Model tiny_model() {
  auto m = make_random_model(test::tiny_config(), 7);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return std::move(m).value();
}

void expect_refused(const std::string& path, const std::vector<std::string>& fragments) {
  auto r = load_model(path);
  ASSERT_FALSE(r.ok()) << path << " loaded";
  const std::string msg = r.status().to_string();
  EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile) << msg;
  for (const std::string& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << f << " in: " << msg;
  LoadOptions trusted;
  trusted.check_finite = false;
  EXPECT_TRUE(load_model(path, trusted).ok()) << "check_finite = false still refuses " << path;
}

TEST(FiniteCheck, LoadRefusesNanWeightInGgufAndSafetensors) {
  Model m = tiny_model();
  // W_v: not RoPE-permuted by the safetensors writer, so the index is the same in both files.
  Tensor& wv = m.weights.layers[1].wv;  // [kv_dim 12, d_model 20]
  wv.f32()[2 * 20 + 3] = std::nanf("");
  for (const char* name : {"nan.gguf", "nan.safetensors"}) {
    const std::string path = test::temp_dir() + "/" + name;
    ASSERT_TRUE(save_model(m, path).ok());
    expect_refused(path, {name, "blk.1.attn_v.weight", "(nan)", "index 43 = [2, 3]"});
  }
}

TEST(FiniteCheck, LoadRefusesInfInF16WeightsAndInQuantizedScales) {
  Model m = tiny_model();
  Tensor up = Tensor::zeros(DType::kF16, m.weights.layers[0].w_up.shape(), "blk.0.ffn_up.weight");
  auto* h = up.data_as<uint16_t>();
  h[100] = 0x7c00;  // +inf
  m.weights.layers[0].w_up = up;
  // A q8_0 extra tensor whose second block has an infinite scale: elements 32.. dequantise to
  // inf or nan.
  std::vector<float> ones(64, 1.0f);
  Tensor q = Tensor::zeros(DType::kQ8_0, {2, 32}, "lrkv.test.q8");
  ASSERT_TRUE(quantize_from_f32(DType::kQ8_0, ones.data(), q.data(), 64).ok());
  const std::string q_path = test::temp_dir() + "/q8inf.gguf";
  {
    Model mq = tiny_model();
    auto* bytes = static_cast<uint8_t*>(q.data());
    const uint16_t inf = 0x7c00;
    std::memcpy(bytes + 34, &inf, 2);  // scale of block 1
    mq.extra_tensors["lrkv.test.q8"] = q;
    ASSERT_TRUE(save_model(mq, q_path).ok());
  }
  const std::string path = test::temp_dir() + "/inf16.gguf";
  ASSERT_TRUE(save_model(m, path).ok());
  expect_refused(path, {"blk.0.ffn_up.weight", "(inf)", "index 100"});
  expect_refused(q_path, {"lrkv.test.q8", "index 32 = [1, 0]"});
}

}  // namespace
}  // namespace lrkv
