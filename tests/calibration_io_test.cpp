// Issue 17: `calibrate` wrote non-finite statistics, and a calibration file whose metadata claims
// huge head counts overflowed n_kv_head * head_dim (UBSan, calibration.h kv_dim) or converted
// 1e308 to int. Both are refused with the file and the tensor / key named.
#include <cmath>
#include <filesystem>

#include "compress/calibration.h"
#include "io/safetensors_file.h"
#include "test_util.h"

namespace lrkv {
namespace {

// One layer, d_model 2, one KV head of head_dim 2: every tensor the file holds, zero-filled.
CalibrationStats small_stats() {
  CalibrationStats s;
  s.model_name = "t";
  s.text = "x";
  s.n_tokens = 10;
  s.d_model = 2;
  s.n_layer = 1;
  s.n_kv_head = 1;
  s.head_dim = 2;
  s.layers.resize(1);
  LayerCalibration& L = s.layers[0];
  L.xtx = Mat(2, 2);
  for (MomentStats* m : {&L.k_pre, &L.k_post, &L.v}) {
    m->sum.assign(2, 0.0);
    m->sxx = Mat(2, 2);
  }
  L.k_freq.assign(1, {0.0, 0.0});
  return s;
}

TEST(CalibrationIo, NonFiniteStatisticsAreNotWritten) {
  const std::string dir = test::temp_dir(), path = dir + "/calib.safetensors";
  CalibrationStats s = small_stats();
  ASSERT_TRUE(save_calibration(s, path).ok());
  ASSERT_TRUE(load_calibration(path).ok());
  const auto before = std::filesystem::last_write_time(path);
  s.layers[0].k_post.sxx(1, 0) = std::nan("");
  const Status st = save_calibration(s, path);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.to_string().find("blk.0.k_post.sxx"), std::string::npos) << st.to_string();
  EXPECT_NE(st.to_string().find("non-finite"), std::string::npos) << st.to_string();
  EXPECT_EQ(std::filesystem::last_write_time(path), before) << "the old file was replaced";
  s = small_stats();
  s.layers[0].v.sum[0] = INFINITY;
  EXPECT_NE(save_calibration(s, path).to_string().find("blk.0.v.sum"), std::string::npos);
}

TEST(CalibrationIo, HugeOrFractionalSizesAreRefused) {
  const std::string dir = test::temp_dir();
  const char* metas[] = {
      R"({"version": 1, "model": "m", "text": "t", "n_tokens": 5, "d_model": 8, "n_layer": 1,
          "n_kv_head": 65536, "head_dim": 65536})",
      R"({"version": 1, "model": "m", "text": "t", "n_tokens": 5, "d_model": 8, "n_layer": 1,
          "n_kv_head": 1, "head_dim": 1e308})",
  };
  for (const char* meta : metas) {
    const std::string path = dir + "/bad.safetensors";
    ASSERT_TRUE(write_safetensors(path, {}, {{"lrkv.calibration", meta}}).ok());
    auto c = load_calibration(path);
    ASSERT_FALSE(c.ok()) << meta;
    EXPECT_NE(c.status().to_string().find("bad.safetensors"), std::string::npos) << c.status().to_string();
    EXPECT_NE(c.status().to_string().find("head_dim"), std::string::npos) << c.status().to_string();
  }
}

}  // namespace
}  // namespace lrkv
