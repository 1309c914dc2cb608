// GGUF container: every metadata value type round-trips through the writer and reader (v3 and
// v2), quantized tensors written from our quantisers load as views and dequantise, and corrupt
// files give one-line errors naming the file (never a crash or a huge allocation).
#include "io/gguf_reader.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "core/mmap_file.h"
#include "io/gguf_vocab.h"
#include "io/gguf_writer.h"
#include "kernels/ggml_quants.h"
#include "model/synth.h"
#include "test_util.h"

namespace lrkv {
namespace {

std::string read_bytes(const std::string& path) {
  auto r = read_text_file(path);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : std::string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Little-endian byte builder for hand-made (often broken) GGUF files.
struct Bytes {
  std::string b;
  template <typename T>
  Bytes& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return put<uint32_t>(kGgufMagic).put<uint32_t>(version).put(n_tensors).put(n_kv);
  }
  Bytes& pad(size_t a = 32) {
    b.resize((b.size() + a - 1) / a * a, '\0');
    return *this;
  }
};

// Reads `bytes` written to a fresh file; expects failure with `code` and a one-line message
// naming the file and containing `needle`.
void expect_error(const std::string& bytes, ErrorCode code, const std::string& needle) {
  const std::string path = test::temp_dir() + "/broken.gguf";
  write_bytes(path, bytes);
  auto r = read_gguf(path);
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << needle << "'";
  const std::string msg = r.status().message();
  EXPECT_EQ(r.status().code(), code) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

GgufValue scalar(GgufType t, uint64_t u, int64_t i, double f) {
  GgufValue v;
  v.type = t;
  v.u = u;
  v.i = i;
  v.f = f;
  return v;
}

std::vector<std::pair<std::string, GgufValue>> all_value_types() {
  return {
      {"t.u8", scalar(GgufType::kU8, 200, 0, 0)},
      {"t.i8", scalar(GgufType::kI8, 0, -100, 0)},
      {"t.u16", scalar(GgufType::kU16, 60000, 0, 0)},
      {"t.i16", scalar(GgufType::kI16, 0, -30000, 0)},
      {"t.u32", GgufValue::u32(4000000000u)},
      {"t.i32", GgufValue::i32(-2000000000)},
      {"t.f32", GgufValue::f32(0.15625f)},
      {"t.bool", GgufValue::boolean(true)},
      {"t.string", GgufValue::str("h\xC3\xA9llo \"quoted\"")},
      {"t.u64", scalar(GgufType::kU64, 1ull << 63, 0, 0)},
      {"t.i64", scalar(GgufType::kI64, 0, -(1ll << 62), 0)},
      {"t.f64", scalar(GgufType::kF64, 0, 0, 1e-300)},
      {"t.strings", GgufValue::str_array({"a", "", "ccc"})},
      {"t.floats", GgufValue::f32_array({1.5f, -2.0f})},
      {"t.empty", GgufValue::i32_array({})},
      {"t.nested",
       GgufValue::array_of_arrays({GgufValue::i32_array({1, 2}), GgufValue::str_array({"x"}),
                                   GgufValue::array_of_arrays({GgufValue::f32_array({3.0f})})})},
  };
}

TEST(GgufReader, AllMetadataTypesRoundTripV3AndV2) {
  GgufWriter w;
  for (auto& [k, v] : all_value_types()) w.set(k, v);
  const std::string path = test::temp_dir() + "/types.gguf";
  ASSERT_TRUE(w.write(path).ok());
  std::string v2 = read_bytes(path);
  v2[4] = 2;  // version field
  const std::string path2 = test::temp_dir() + "/types_v2.gguf";
  write_bytes(path2, v2);
  for (const std::string& p : {path, path2}) {
    auto f = read_gguf(p);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(f->version(), p == path ? 3u : 2u);
    ASSERT_EQ(f->metadata().size(), all_value_types().size());
    for (const auto& [k, v] : all_value_types()) {
      const GgufValue* got = f->find(k);
      ASSERT_NE(got, nullptr) << k;
      EXPECT_EQ(got->type, v.type) << k;
      EXPECT_EQ(got->to_json(), v.to_json()) << k;
    }
  }
  EXPECT_EQ(read_gguf(path)->find("t.nested")->to_json(), "[[1,2],[\"x\"],[[3.0]]]");
}

TEST(GgufReader, QuantizedTensorsAreViewsThatDequantise) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> x(4 * 64);
  for (float& v : x) v = nd(rng);
  GgufWriter w;
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kF16, DType::kBF16, DType::kF32}) {
    Tensor q = Tensor::zeros(t, {4, 64});
    ASSERT_TRUE(quantize_from_f32(t, x.data(), q.data(), q.numel()).ok());
    ASSERT_TRUE(w.add_tensor(std::string("w.") + std::string(dtype_name(t)), q).ok());
  }
  const std::string path = test::temp_dir() + "/quant.gguf";
  ASSERT_TRUE(w.write(path).ok());
  auto f = read_gguf(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  for (const GgufTensorInfo& info : f->tensors()) {
    EXPECT_EQ(info.shape, (std::vector<int64_t>{4, 64}));
    EXPECT_EQ(info.offset % 32, 0u);
    Tensor view = f->view(info);
    std::vector<float> y(x.size()), ref(x.size());
    ASSERT_TRUE(dequantize_to_f32(view.dtype(), view.data(), y.data(), view.numel()).ok());
    std::vector<uint8_t> q(view.nbytes());
    ASSERT_TRUE(quantize_from_f32(view.dtype(), x.data(), q.data(), view.numel()).ok());
    EXPECT_EQ(std::memcmp(q.data(), view.data(), q.size()), 0) << info.name;
    ASSERT_TRUE(dequantize_to_f32(view.dtype(), q.data(), ref.data(), view.numel()).ok());
    EXPECT_EQ(y, ref) << info.name;
  }
}

TEST(GgufReader, WriterRejectsPartialBlocksAndUnwritableTypes) {
  GgufWriter w;
  const Tensor t = Tensor::zeros(DType::kF32, {3, 40});
  EXPECT_TRUE(w.add_tensor("ok", t).ok());
  test::expect_error(w.add_tensor("ok", t), ErrorCode::kInvalidArgument, {"'ok'"});  // duplicate
  test::expect_error(w.add_tensor("5d", t.reshaped({1, 1, 1, 3, 40})), ErrorCode::kInvalidArgument,
                     {"'5d'"});
  test::expect_error(w.add_tensor("i32", Tensor::zeros(DType::kI32, {4})), ErrorCode::kUnsupported,
                     {"'i32'"});
  test::expect_error(w.add_tensor("q", Tensor::zeros(DType::kQ4_0, {64}).reshaped({4, 16})),
                     ErrorCode::kInvalidArgument, {"'q'"});
}

// A small valid file with metadata and two tensors, used as the base of corruptions.
std::string valid_file() {
  GgufWriter w;
  w.set("general.architecture", GgufValue::str("llama"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array({"<unk>", "<s>", "</s>", "hello"}));
  EXPECT_TRUE(w.add_tensor("a.weight", Tensor::zeros(DType::kF32, {8, 16})).ok());
  EXPECT_TRUE(w.add_tensor("b.weight", Tensor::zeros(DType::kF16, {64})).ok());
  const std::string path = test::temp_dir() + "/valid.gguf";
  EXPECT_TRUE(w.write(path).ok());
  EXPECT_TRUE(read_gguf(path).ok());
  return read_bytes(path);
}

// Fuzz finding (fuzz_gguf): a token type of 4294967295 was converted to int (UB). Token types
// must be integers 0..255 and scores finite floats; each refusal names the key and the entry.
TEST(GgufReader, VocabTypesAndScoresAreChecked) {
  auto vocab_of = [](GgufValue types, GgufValue scores) {
    GgufWriter w;
    w.set("general.architecture", GgufValue::str("llama"));
    w.set("tokenizer.ggml.model", GgufValue::str("llama"));
    w.set("tokenizer.ggml.tokens", GgufValue::str_array({"<unk>", "<s>", "</s>", "hello"}));
    w.set("tokenizer.ggml.token_type", std::move(types));
    w.set("tokenizer.ggml.scores", std::move(scores));
    const std::string path = test::temp_dir() + "/vocab.gguf";
    EXPECT_TRUE(w.write(path).ok());
    auto f = read_gguf(path);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    Vocab v;
    return read_gguf_vocab(*f, &v).status();
  };
  const GgufValue scores = GgufValue::f32_array({0, 0, 0, -1.5f});
  EXPECT_TRUE(vocab_of(GgufValue::i32_array({2, 3, 3, 1}), scores).ok());
  test::expect_error(vocab_of(GgufValue::i32_array({2, 3, 3, -1}), scores), ErrorCode::kCorruptFile,
                     {"tokenizer.ggml.token_type", "entry 3", "vocab.gguf"});
  test::expect_error(vocab_of(GgufValue::i32_array({2, 3, 300, 1}), scores),
                     ErrorCode::kCorruptFile, {"tokenizer.ggml.token_type", "entry 2"});
  test::expect_error(vocab_of(GgufValue::f32_array({2, 3.5f, 3, 1}), scores),
                     ErrorCode::kCorruptFile, {"tokenizer.ggml.token_type", "entry 1"});
  test::expect_error(vocab_of(GgufValue::i32_array({2, 3, 3, 1}),
                              GgufValue::f32_array({0, INFINITY, 0, 0})),
                     ErrorCode::kCorruptFile, {"tokenizer.ggml.scores", "entry 1"});
  test::expect_error(vocab_of(GgufValue::i32_array({2, 3, 3, 1}),
                              GgufValue::f32_array({0, 0, NAN, 0})),
                     ErrorCode::kCorruptFile, {"tokenizer.ggml.scores", "entry 2"});
}

TEST(GgufReader, CorruptHeaders) {
  const std::string good = valid_file();
  expect_error("", ErrorCode::kCorruptFile, "empty");
  std::string magic = good;
  magic[3] = 'X';
  expect_error(magic, ErrorCode::kCorruptFile, "magic");
  std::string v1 = good;
  v1[4] = 1;
  expect_error(v1, ErrorCode::kUnsupported, "version 1");
  std::string v4 = good;
  v4[4] = 4;
  expect_error(v4, ErrorCode::kUnsupported, "version 4");
  expect_error(good.substr(0, 2), ErrorCode::kCorruptFile, "truncated");
  expect_error(good.substr(0, 12), ErrorCode::kCorruptFile, "tensor count");
}

TEST(GgufReader, TruncatedAtEveryRegion) {
  const std::string good = valid_file();
  const uint64_t data_start = good.size() - (8 * 16 * 4) - 128;  // two tensors, padded to 32
  // In the metadata, in the tensor infos, and in the data.
  expect_error(good.substr(0, 40), ErrorCode::kCorruptFile, "metadata");
  expect_error(good.substr(0, 120), ErrorCode::kCorruptFile, "tokenizer.ggml.tokens");
  expect_error(good.substr(0, data_start - 40), ErrorCode::kCorruptFile, "tensor");
  expect_error(good.substr(0, good.size() - 10), ErrorCode::kCorruptFile, "beyond the end");
  expect_error(good.substr(0, data_start), ErrorCode::kCorruptFile, "beyond the end");
  // Every cut point fails cleanly.
  for (size_t n = 0; n < good.size(); n += 7) {
    const std::string path = test::temp_dir() + "/cut.gguf";
    write_bytes(path, good.substr(0, n));
    auto r = read_gguf(path);
    ASSERT_FALSE(r.ok()) << "cut at " << n;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  }
}

TEST(GgufReader, HugeCountsAndLengths) {
  expect_error(Bytes().header(1ull << 40, 0).b, ErrorCode::kCorruptFile, "tensor count");
  expect_error(Bytes().header(0, 1ull << 50).b, ErrorCode::kCorruptFile,
               "metadata key/value count");
  expect_error(Bytes().header(0, 1).put<uint64_t>(1ull << 60).b + std::string(64, 'k'),
               ErrorCode::kCorruptFile, "string length 1152921504606846976");
  Bytes arr;
  arr.header(0, 1).str("big").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(1ull << 61);
  expect_error(arr.b + std::string(64, '\0'), ErrorCode::kCorruptFile, "array element count");
  Bytes dims;
  dims.header(1, 0).str("t").put<uint32_t>(2).put<uint64_t>(1ull << 40).put<uint64_t>(1ull << 40);
  expect_error(dims.b + std::string(64, '\0'), ErrorCode::kCorruptFile, "implausible size");
  Bytes nd;
  nd.header(1, 0).str("t").put<uint32_t>(7);
  expect_error(nd.b + std::string(64, '\0'), ErrorCode::kCorruptFile, "n_dims 7");
  Bytes vt;
  vt.header(0, 1).str("k").put<uint32_t>(99).put<uint32_t>(0);
  expect_error(vt.b + std::string(16, '\0'), ErrorCode::kCorruptFile, "unknown value type 99");
}

TEST(GgufReader, UnsupportedTypeAndBadOffsets) {
  auto one_tensor = [](uint32_t type, uint64_t ne0, uint64_t offset, size_t data) {
    Bytes b;
    b.header(1, 0).str("blk.0.attn_q.weight").put<uint32_t>(1).put(ne0).put(type).put(offset);
    return b.pad().b + std::string(data, '\0');
  };
  expect_error(one_tensor(3, 32, 0, 64), ErrorCode::kUnsupported,
               "'blk.0.attn_q.weight' has GGML type id 3");
  expect_error(one_tensor(0, 32, 1 << 20, 128), ErrorCode::kCorruptFile, "beyond the end");
  expect_error(one_tensor(0, 32, 64, 128), ErrorCode::kCorruptFile, "[64, 192)");
  expect_error(one_tensor(0, 32, 8, 256), ErrorCode::kCorruptFile,
               "not a multiple of the alignment");
  expect_error(one_tensor(8, 33, 0, 256), ErrorCode::kCorruptFile, "block size 32");
  EXPECT_TRUE([&] {
    const std::string path = test::temp_dir() + "/ok.gguf";
    write_bytes(path, one_tensor(8, 64, 0, 68));  // q8_0: 2 blocks of 34 bytes
    return read_gguf(path).ok();
  }());
}

TEST(GgufReader, BadAlignmentAndDuplicates) {
  Bytes al;
  al.header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(24);
  expect_error(al.b, ErrorCode::kCorruptFile, "general.alignment");
  Bytes dup;
  dup.header(0, 2)
      .str("k")
      .put<uint32_t>(4)
      .put<uint32_t>(1)
      .str("k")
      .put<uint32_t>(4)
      .put<uint32_t>(2);
  expect_error(dup.b, ErrorCode::kCorruptFile, "duplicate metadata 'k'");
  Bytes deep;
  deep.header(0, 1).str("deep").put<uint32_t>(9);
  for (int i = 0; i < 20; ++i) deep.put<uint32_t>(9).put<uint64_t>(1);
  expect_error(deep.b + std::string(64, '\0'), ErrorCode::kCorruptFile, "nested deeper");
}

}  // namespace
}  // namespace lrkv

namespace lrkv {
namespace {

// Issue 17: metadata keys (and tensor names) that are not UTF-8 were accepted.
TEST(GgufReader, InvalidUtf8KeysAreRefused) {
  for (const std::string& key : {std::string("bad\xff"), std::string("\xc0\xaf"), std::string("cut\xe2\x82"),
                                 std::string("\xed\xa0\x80")}) {
    Bytes b;
    b.header(0, 1).str(key).put<uint32_t>(4).put<uint32_t>(1);
    expect_error(b.b, ErrorCode::kCorruptFile, "metadata key #0 is not valid UTF-8");
  }
  Bytes ok;
  ok.header(0, 1).str("caf\xc3\xa9").put<uint32_t>(4).put<uint32_t>(1);
  const std::string path = test::temp_dir() + "/utf8.gguf";
  write_bytes(path, ok.b);
  EXPECT_TRUE(read_gguf(path).ok());
}

}  // namespace
}  // namespace lrkv
