#include "io/gguf_reader.h"

#include <cstdint>
#include <unordered_set>

#include "io/byte_reader.h"
#include "model/utf8.h"

namespace lrkv {

namespace {
constexpr int kMaxArrayDepth = 8;
constexpr int kMaxDims = 4;
// Smallest encoding of one tensor info: name length, n_dims, one ne, type, offset.
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;
// Smallest encoding of one metadata pair: key length, value type, a 1-byte value.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;

// Smallest encoding of one element of an array of `t`.
uint64_t min_elem_bytes(GgufType t) {
  if (t == GgufType::kString) return 8;     // length
  if (t == GgufType::kArray) return 4 + 8;  // type + count
  return static_cast<uint64_t>(gguf_scalar_size(t));
}
}  // namespace

// Parses the header and tensor infos of one mapped file into a GgufFile.
class GgufParser {
 public:
  explicit GgufParser(std::shared_ptr<MappedFile> file)
      : r_(file->data(), file->size(), file->path()) {
    out_.path_ = file->path();
    out_.file_ = std::move(file);
  }

  Result<GgufFile> parse() {
    LRKV_RETURN_IF_ERROR(read_header());
    LRKV_RETURN_IF_ERROR(read_metadata());
    LRKV_RETURN_IF_ERROR(read_alignment());
    LRKV_RETURN_IF_ERROR(read_tensor_infos());
    LRKV_RETURN_IF_ERROR(place_data());
    return std::move(out_);
  }

 private:
  template <typename... Args>
  Status corrupt(fmt::format_string<Args...> f, Args&&... args) const {
    return Status(ErrorCode::kCorruptFile,
                  out_.path_ + ": " + fmt::format(f, std::forward<Args>(args)...));
  }

  // Fails unless `count` items of at least `min_bytes` each fit in the rest of the file.
  Status check_count(uint64_t count, uint64_t min_bytes, const std::string& what) const {
    if (count > r_.remaining() / min_bytes) {
      return corrupt(
          "{} count {} at offset {} needs at least {} bytes each, but only {} bytes "
          "remain (truncated or corrupt file)",
          what, count, r_.offset(), min_bytes, r_.remaining());
    }
    return Status::Ok();
  }

  Status read_string(std::string* out, const std::string& what) {
    uint64_t len = 0;
    LRKV_RETURN_IF_ERROR(r_.read(&len, (what + " length").c_str()));
    if (len > r_.remaining()) {
      return corrupt("string length {} for {} at offset {} exceeds the {} bytes left in the file",
                     len, what, r_.offset() - 8, r_.remaining());
    }
    return r_.read_bytes(len, out, what.c_str());
  }

  Status read_header() {
    if (r_.remaining() == 0) return corrupt("file is empty (0 bytes)");
    uint32_t magic = 0, version = 0;
    LRKV_RETURN_IF_ERROR(r_.read(&magic, "GGUF magic"));
    if (magic != kGgufMagic) {
      return corrupt("wrong magic 0x{:08x} at offset 0: expected 'GGUF' (0x{:08x})", magic,
                     kGgufMagic);
    }
    LRKV_RETURN_IF_ERROR(r_.read(&version, "GGUF version"));
    if (version != 2 && version != 3) {
      return make_error(
          ErrorCode::kUnsupported, "{}: GGUF version {} is not supported (only versions 2 and 3{})",
          out_.path_, version, version > 0xffff ? "; big-endian files are not supported" : "");
    }
    out_.version_ = version;
    LRKV_RETURN_IF_ERROR(r_.read(&n_tensors_, "tensor count"));
    LRKV_RETURN_IF_ERROR(r_.read(&n_kv_, "metadata count"));
    LRKV_RETURN_IF_ERROR(check_count(n_kv_, kMinKvBytes, "metadata key/value"));
    return check_count(n_tensors_, kMinTensorInfoBytes, "tensor");
  }

  Status read_type(GgufType* t, const std::string& what) {
    uint32_t raw = 0;
    LRKV_RETURN_IF_ERROR(r_.read(&raw, (what + " type").c_str()));
    if (!gguf_type_valid(raw)) {
      return corrupt("{} has unknown value type {} at offset {}", what, raw, r_.offset() - 4);
    }
    *t = static_cast<GgufType>(raw);
    return Status::Ok();
  }

  Status read_value(GgufType t, GgufValue* out, const std::string& what, int depth) {
    if (t == GgufType::kString) {
      out->type = t;
      return read_string(&out->s, what);
    }
    if (t == GgufType::kArray) return read_array(out, what, depth);
    const int size = gguf_scalar_size(t);
    if (r_.remaining() < static_cast<uint64_t>(size)) return r_.truncated(size, what.c_str());
    *out = GgufValue::scalar_from_bytes(t, r_.cursor());
    return r_.skip(size, what.c_str());
  }

  Status read_array(GgufValue* out, const std::string& what, int depth) {
    if (depth >= kMaxArrayDepth) {
      return corrupt("{}: arrays nested deeper than {} levels", what, kMaxArrayDepth);
    }
    out->type = GgufType::kArray;
    LRKV_RETURN_IF_ERROR(read_type(&out->elem, what + " element"));
    uint64_t count = 0;
    LRKV_RETURN_IF_ERROR(r_.read(&count, (what + " array length").c_str()));
    LRKV_RETURN_IF_ERROR(check_count(count, min_elem_bytes(out->elem), what + " array element"));
    if (out->elem == GgufType::kString) {
      out->strs.resize(count);
      for (uint64_t k = 0; k < count; ++k) {
        LRKV_RETURN_IF_ERROR(read_string(&out->strs[k], fmt::format("{}[{}]", what, k)));
      }
    } else if (out->elem == GgufType::kArray) {
      out->arr.resize(count);
      for (uint64_t k = 0; k < count; ++k) {
        LRKV_RETURN_IF_ERROR(read_array(&out->arr[k], fmt::format("{}[{}]", what, k), depth + 1));
      }
    } else {
      return r_.read_bytes(count * gguf_scalar_size(out->elem), &out->raw, what.c_str());
    }
    return Status::Ok();
  }

  Status read_metadata() {
    std::unordered_set<std::string> seen;
    for (uint64_t k = 0; k < n_kv_; ++k) {
      std::string key;
      LRKV_RETURN_IF_ERROR(read_string(&key, fmt::format("metadata key #{}", k)));
      if (!utf8_valid(key)) {
        return corrupt("metadata key #{} is not valid UTF-8 (the GGUF format requires UTF-8 keys)", k);
      }
      const std::string what = fmt::format("metadata '{}'", key);
      if (!seen.insert(key).second) return corrupt("duplicate {}", what);
      GgufType t{};
      LRKV_RETURN_IF_ERROR(read_type(&t, what));
      GgufValue v;
      LRKV_RETURN_IF_ERROR(read_value(t, &v, what, 0));
      out_.metadata_.emplace_back(std::move(key), std::move(v));
    }
    return Status::Ok();
  }

  Status read_alignment() {
    const GgufValue* a = out_.find("general.alignment");
    if (a == nullptr) return Status::Ok();
    const int64_t v = a->is_integer() ? a->as_int() : 0;
    if (v <= 0 || v > (1 << 30) || (v & (v - 1)) != 0) {
      return corrupt("general.alignment must be a power of two integer, found {}", a->to_json());
    }
    out_.alignment_ = static_cast<uint32_t>(v);
    return Status::Ok();
  }

  // ne[] (GGUF order) -> row-major shape, with element and byte counts checked for overflow.
  Status read_shape(GgufTensorInfo* t, const std::string& what) {
    uint32_t n_dims = 0;
    LRKV_RETURN_IF_ERROR(r_.read(&n_dims, (what + " n_dims").c_str()));
    if (n_dims < 1 || n_dims > kMaxDims) {
      return corrupt("{} has n_dims {}, expected 1..{}", what, n_dims, kMaxDims);
    }
    t->shape.assign(n_dims, 0);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      LRKV_RETURN_IF_ERROR(r_.read(&ne, (what + " ne").c_str()));
      if (ne > (uint64_t{1} << 62) || (ne != 0 && numel > (uint64_t{1} << 62) / ne)) {
        return corrupt("{} has an implausible size: ne[{}] = {}", what, d, ne);
      }
      numel *= ne;
      t->shape[n_dims - 1 - d] = static_cast<int64_t>(ne);
    }
    return Status::Ok();
  }

  Status read_tensor_info(uint64_t k, GgufTensorInfo* t) {
    LRKV_RETURN_IF_ERROR(read_string(&t->name, fmt::format("name of tensor #{}", k)));
    if (!utf8_valid(t->name)) return corrupt("name of tensor #{} is not valid UTF-8", k);
    const std::string what = fmt::format("tensor '{}'", t->name);
    LRKV_RETURN_IF_ERROR(read_shape(t, what));
    uint32_t type_id = 0;
    LRKV_RETURN_IF_ERROR(r_.read(&type_id, (what + " type").c_str()));
    if (!dtype_from_ggml_type(type_id, &t->dtype)) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: {} has GGML type id {}, which lrkv does not read (supported: f32=0, "
                        "f16=1, q4_0=2, q8_0=8, q4_K=12, q6_K=14, bf16=30)",
                        out_.path_, what, type_id);
    }
    const int64_t inner = t->shape.back(), block = dtype_block_elems(t->dtype);
    if (inner % block != 0) {
      return corrupt("{} of type {} has ne[0] = {}, not a multiple of the block size {}", what,
                     dtype_name(t->dtype), inner, block);
    }
    uint64_t numel = 1;  // <= 2^62, checked by read_shape
    for (int64_t d : t->shape) numel *= static_cast<uint64_t>(d);
    const uint64_t n_blocks = numel / block, block_bytes = dtype_block_bytes(t->dtype);
    if (n_blocks > out_.file_->size() / block_bytes) {
      return corrupt(
          "{} ({} {}) lies beyond the end of the file: it needs {} blocks of {} bytes, "
          "the whole file has {} bytes (truncated?)",
          what, dtype_name(t->dtype), shape_to_string(t->shape), n_blocks, block_bytes,
          out_.file_->size());
    }
    t->nbytes = n_blocks * block_bytes;
    LRKV_RETURN_IF_ERROR(r_.read(&t->offset, (what + " offset").c_str()));
    if (t->offset % out_.alignment_ != 0) {
      return corrupt("{} data offset {} is not a multiple of the alignment {}", what, t->offset,
                     out_.alignment_);
    }
    return Status::Ok();
  }

  Status read_tensor_infos() {
    std::unordered_set<std::string> seen;
    out_.tensors_.resize(n_tensors_);
    for (uint64_t k = 0; k < n_tensors_; ++k) {
      LRKV_RETURN_IF_ERROR(read_tensor_info(k, &out_.tensors_[k]));
      if (!seen.insert(out_.tensors_[k].name).second) {
        return corrupt("duplicate tensor '{}'", out_.tensors_[k].name);
      }
    }
    return Status::Ok();
  }

  // The data section starts at the next multiple of the alignment; every tensor must lie inside.
  Status place_data() {
    const uint64_t a = out_.alignment_;
    out_.data_offset_ = (r_.offset() + a - 1) / a * a;
    const uint64_t size = out_.file_->size();
    const uint64_t data_size = size > out_.data_offset_ ? size - out_.data_offset_ : 0;
    for (const GgufTensorInfo& t : out_.tensors_) {
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        return corrupt(
            "tensor '{}' data [{}, {}) lies beyond the end of the file: the data "
            "section at offset {} has {} bytes (truncated?)",
            t.name, t.offset, t.offset + t.nbytes, out_.data_offset_, data_size);
      }
    }
    return Status::Ok();
  }

  ByteReader r_;
  GgufFile out_;
  uint64_t n_tensors_ = 0, n_kv_ = 0;
};

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : metadata_) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {
Status lookup(const GgufFile& f, const std::string& key, bool required, bool type_ok,
              const GgufValue* v, const char* want) {
  if (v == nullptr) {
    return required
               ? make_error(ErrorCode::kNotFound, "{}: missing metadata key '{}'", f.path(), key)
               : Status::Ok();
  }
  if (!type_ok) {
    return make_error(ErrorCode::kCorruptFile, "{}: metadata '{}' should be {}, found {}", f.path(),
                      key, want, gguf_type_name(v->type));
  }
  return Status::Ok();
}
}  // namespace

Status GgufFile::get_int(const std::string& key, int64_t* out, bool required) const {
  const GgufValue* v = find(key);
  const bool ok = v != nullptr && v->is_integer() && v->type != GgufType::kBool &&
                  !(v->type == GgufType::kU64 && v->u > uint64_t{INT64_MAX});
  LRKV_RETURN_IF_ERROR(lookup(*this, key, required, ok, v, "an integer"));
  if (v != nullptr) *out = v->as_int();
  return Status::Ok();
}

Status GgufFile::get_float(const std::string& key, double* out, bool required) const {
  const GgufValue* v = find(key);
  const bool ok =
      v != nullptr && (v->is_float() || (v->is_integer() && v->type != GgufType::kBool));
  LRKV_RETURN_IF_ERROR(lookup(*this, key, required, ok, v, "a number"));
  if (v != nullptr) *out = v->as_double();
  return Status::Ok();
}

Status GgufFile::get_bool(const std::string& key, bool* out, bool required) const {
  const GgufValue* v = find(key);
  LRKV_RETURN_IF_ERROR(lookup(*this, key, required, v && v->type == GgufType::kBool, v, "a bool"));
  if (v != nullptr) *out = v->u != 0;
  return Status::Ok();
}

Status GgufFile::get_string(const std::string& key, std::string* out, bool required) const {
  const GgufValue* v = find(key);
  LRKV_RETURN_IF_ERROR(
      lookup(*this, key, required, v && v->type == GgufType::kString, v, "a string"));
  if (v != nullptr) *out = v->s;
  return Status::Ok();
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const GgufTensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Tensor GgufFile::view(const GgufTensorInfo& info) const {
  auto* p = const_cast<uint8_t*>(file_->data() + data_offset_ + info.offset);
  return Tensor::view(info.dtype, info.shape, p, file_, info.name);
}

Result<GgufFile> read_gguf(const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  return GgufParser(std::move(file)).parse();
}

}  // namespace lrkv
