// Malformed checkpoints give one-line errors naming the file and the tensor or key; none crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/mmap_file.h"
#include "io/model_io.h"
#include "io/safetensors_file.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {
namespace fs = std::filesystem;

// Writes [u64 header length][header][data] to dir/name; returns the path.
std::string write_raw(const std::string& dir, const std::string& header, const std::string& data,
                      const std::string& name = "model.safetensors", int64_t claimed_len = -1) {
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
  return path;
}

using test::expect_error;

Status read_status(const std::string& path) { return read_safetensors(path).status(); }

TEST(SafetensorsCorrupt, RawFileErrors) {
  const std::string dir = test::temp_dir();
  std::ofstream(dir + "/empty.safetensors").close();
  expect_error(read_status(dir + "/empty.safetensors"), ErrorCode::kCorruptFile,
               {"empty.safetensors", "empty"});
  const std::string ok_entry = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  expect_error(
      read_status(write_raw(dir, ok_entry, std::string(8, '\0'), "long.safetensors", 1 << 20)),
      ErrorCode::kCorruptFile, {"long.safetensors", "header length"});
  expect_error(read_status(write_raw(dir, "{\"w\": [", "", "json.safetensors")),
               ErrorCode::kCorruptFile, {"json.safetensors", "JSON"});
  expect_error(read_status(write_raw(dir, ok_entry, std::string(4, '\0'), "short.safetensors")),
               ErrorCode::kCorruptFile, {"short.safetensors", "'w'", "outside"});
  const std::string bad_count = R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})";
  expect_error(read_status(write_raw(dir, bad_count, std::string(8, '\0'), "count.safetensors")),
               ErrorCode::kCorruptFile, {"count.safetensors", "'w'", "12"});
  const std::string i32 = R"({"ids": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}})";
  expect_error(read_status(write_raw(dir, i32, std::string(8, '\0'), "i32.safetensors")),
               ErrorCode::kUnsupported, {"i32.safetensors", "'ids'", "I32"});
  const std::string huge = R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296],
                               "data_offsets": [0, 8]}})";
  expect_error(read_status(write_raw(dir, huge, std::string(8, '\0'), "huge.safetensors")),
               ErrorCode::kCorruptFile, {"huge.safetensors", "'w'"});
  const std::string reversed = R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})";
  expect_error(read_status(write_raw(dir, reversed, std::string(8, '\0'), "rev.safetensors")),
               ErrorCode::kCorruptFile, {"rev.safetensors", "'w'"});
  std::ofstream(dir + "/tiny.safetensors") << "abc";
  expect_error(read_status(dir + "/tiny.safetensors"), ErrorCode::kCorruptFile,
               {"tiny.safetensors"});
}

// A valid saved tiny model in a fresh directory.
std::string saved_model(const LlamaConfig& c) {
  const std::string dir = test::temp_dir();
  auto m = make_random_model(c, 3);
  EXPECT_TRUE(m.ok());
  Status s = save_safetensors(*m, dir + "/model.safetensors");
  EXPECT_TRUE(s.ok()) << s.to_string();
  return dir;
}

void edit_config(const std::string& dir, const std::string& from, const std::string& to) {
  std::string text = read_text_file(dir + "/config.json").value();
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  ASSERT_TRUE(write_file_atomic(dir + "/config.json", text).ok());
}

TEST(SafetensorsCorrupt, ConfigErrors) {
  const LlamaConfig c = test::tiny_config();
  std::string dir = saved_model(c);
  edit_config(dir, "\"num_hidden_layers\"", "\"num_hidden_layerz\"");
  expect_error(load_model(dir).status(), ErrorCode::kCorruptFile,
               {"config.json", "num_hidden_layers"});

  dir = saved_model(c);
  edit_config(dir, "\"intermediate_size\": 36", "\"intermediate_size\": 40");
  expect_error(load_model(dir).status(), ErrorCode::kShapeMismatch,
               {"model.safetensors", "model.layers.0.mlp.", "config.json"});

  dir = saved_model(c);
  edit_config(dir, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  expect_error(load_model(dir).status(), ErrorCode::kNotFound, {"model.layers.2."});

  dir = saved_model(c);
  fs::remove(dir + "/config.json");
  expect_error(load_model(dir).status(), ErrorCode::kNotFound, {"config.json"});

  dir = saved_model(c);
  std::ofstream(dir + "/tokenizer.json") << "{\"model\": 3}";
  expect_error(load_model(dir).status(), ErrorCode::kCorruptFile, {"tokenizer.json"});

  const std::string empty_dir = test::temp_dir();
  expect_error(load_model(empty_dir).status(), ErrorCode::kNotFound, {"model.safetensors"});
}

TEST(SafetensorsCorrupt, IndexErrors) {
  const std::string dir = saved_model(test::tiny_config());
  fs::rename(dir + "/model.safetensors", dir + "/shard.safetensors");
  const std::string index = dir + "/model.safetensors.index.json";
  ASSERT_TRUE(write_file_atomic(index, R"({"weight_map": {"x": "missing.safetensors"}})").ok());
  expect_error(load_model(dir).status(), ErrorCode::kIoError, {"missing.safetensors"});
  ASSERT_TRUE(write_file_atomic(index, R"({"weight_map": {"x": "shard.safetensors"}})").ok());
  expect_error(load_model(index).status(), ErrorCode::kNotFound, {"index.json", "'x'"});
  ASSERT_TRUE(write_file_atomic(index, R"({"weight_map": {"x": "../escape.safetensors"}})").ok());
  expect_error(load_model(index).status(), ErrorCode::kCorruptFile, {"index.json", "'x'"});
  ASSERT_TRUE(write_file_atomic(index, R"({"weights": {}})").ok());
  expect_error(load_model(index).status(), ErrorCode::kCorruptFile, {"weight_map"});
}

TEST(SafetensorsCorrupt, SaveErrorsLeaveExistingFilesAlone) {
  const std::string dir = saved_model(test::tiny_config());
  const std::string before = read_text_file(dir + "/model.safetensors").value();
  auto m = make_random_model(test::tiny_config(), 5);
  ASSERT_TRUE(m.ok());
  m->config.rope_freq_factors.assign(m->config.head_dim / 2, 1.0f);
  m->config.rope_freq_factors[1] = 3.0f;  // not expressible as llama3 scaling
  expect_error(save_safetensors(*m, dir + "/model.safetensors"), ErrorCode::kUnsupported, {"rope"});
  EXPECT_EQ(read_text_file(dir + "/model.safetensors").value(), before);
  Tensor q8 = Tensor::zeros(DType::kQ8_0, {32}, "q");
  m->config.rope_freq_factors.clear();
  m->extra_tensors["q"] = q8;
  expect_error(save_safetensors(*m, dir + "/model.safetensors"), ErrorCode::kUnsupported, {"'q'"});
  EXPECT_EQ(read_text_file(dir + "/model.safetensors").value(), before);
}

}  // namespace
}  // namespace lrkv

namespace lrkv {
namespace {

// Issue 17: tensors whose data_offsets alias another tensor, overlap it, are shifted by one byte
// (misaligned, leaving a hole) or leave bytes no tensor owns loaded as if valid.
TEST(SafetensorsCorrupt, AliasedOverlappingAndShiftedOffsets) {
  const std::string dir = test::temp_dir();
  const std::string data(16, '\0');
  const std::string alias = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  expect_error(read_status(write_raw(dir, alias, data, "alias.safetensors")), ErrorCode::kCorruptFile,
               {"alias.safetensors", "'a'", "'b'", "overlap"});
  const std::string overlap = R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})";
  expect_error(read_status(write_raw(dir, overlap, data, "overlap.safetensors")), ErrorCode::kCorruptFile,
               {"overlap.safetensors", "overlap"});
  const std::string shifted = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F16", "shape": [3], "data_offsets": [9, 15]}})";
  expect_error(read_status(write_raw(dir, shifted, data, "shifted.safetensors")), ErrorCode::kCorruptFile,
               {"shifted.safetensors", "[8, 9)"});
  const std::string odd = R"({"b": {"dtype": "F32", "shape": [2], "data_offsets": [2, 10]},
                              "a": {"dtype": "F16", "shape": [1], "data_offsets": [0, 2]}})";
  expect_error(read_status(write_raw(dir, odd, std::string(10, '\0'), "odd.safetensors")),
               ErrorCode::kCorruptFile, {"odd.safetensors", "'b'", "multiple of the 4-byte F32"});
  const std::string tail = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  expect_error(read_status(write_raw(dir, tail, data, "tail.safetensors")), ErrorCode::kCorruptFile,
               {"tail.safetensors", "last 8 bytes"});
  const std::string tiled = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F16", "shape": [4], "data_offsets": [8, 16]}})";
  EXPECT_TRUE(read_status(write_raw(dir, tiled, data, "tiled.safetensors")).ok());
}

}  // namespace
}  // namespace lrkv
