#include "io/gguf_writer.h"

#include "core/atomic_file.h"

namespace lrkv {

namespace {

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

template <typename T>
void put(std::string& buf, T v) {
  buf.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_string(std::string& buf, const std::string& s) {
  put<uint64_t>(buf, s.size());
  buf += s;
}

void put_array_payload(std::string& buf, const GgufValue& v);

// The value bytes of `v` (without its type tag).
void put_value(std::string& buf, const GgufValue& v) {
  switch (v.type) {
    case GgufType::kU8:
      put<uint8_t>(buf, static_cast<uint8_t>(v.u));
      break;
    case GgufType::kBool:
      put<uint8_t>(buf, v.u != 0 ? 1 : 0);
      break;
    case GgufType::kU16:
      put<uint16_t>(buf, static_cast<uint16_t>(v.u));
      break;
    case GgufType::kU32:
      put<uint32_t>(buf, static_cast<uint32_t>(v.u));
      break;
    case GgufType::kU64:
      put<uint64_t>(buf, v.u);
      break;
    case GgufType::kI8:
      put<int8_t>(buf, static_cast<int8_t>(v.i));
      break;
    case GgufType::kI16:
      put<int16_t>(buf, static_cast<int16_t>(v.i));
      break;
    case GgufType::kI32:
      put<int32_t>(buf, static_cast<int32_t>(v.i));
      break;
    case GgufType::kI64:
      put<int64_t>(buf, v.i);
      break;
    case GgufType::kF32:
      put<float>(buf, static_cast<float>(v.f));
      break;
    case GgufType::kF64:
      put<double>(buf, v.f);
      break;
    case GgufType::kString:
      put_string(buf, v.s);
      break;
    case GgufType::kArray:
      put_array_payload(buf, v);
      break;
  }
}

// Element type, count, elements.
void put_array_payload(std::string& buf, const GgufValue& v) {
  put<uint32_t>(buf, static_cast<uint32_t>(v.elem));
  put<uint64_t>(buf, v.size());
  if (v.elem == GgufType::kString) {
    for (const std::string& s : v.strs) put_string(buf, s);
  } else if (v.elem == GgufType::kArray) {
    for (const GgufValue& a : v.arr) put_array_payload(buf, a);
  } else {
    buf += v.raw;
  }
}

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

Status GgufWriter::add_tensor(const std::string& name, const Tensor& t) {
  if (ggml_type_of(t.dtype()) < 0) {
    return make_error(ErrorCode::kUnsupported, "tensor '{}': dtype {} cannot be written to GGUF",
                      name, dtype_name(t.dtype()));
  }
  if (t.ndim() < 1 || t.ndim() > 4 || t.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tensor '{}': shape {} cannot be written to GGUF (1 to 4 dims, with data)",
                      name, t.shape_str());
  }
  if (t.dim(-1) % dtype_block_elems(t.dtype()) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "tensor '{}' {} {}: last dim is not a multiple of the block size {}", name,
                      dtype_name(t.dtype()), t.shape_str(), dtype_block_elems(t.dtype()));
  }
  for (const auto& [n, _] : tensors_) {
    if (n == name) return make_error(ErrorCode::kInvalidArgument, "duplicate tensor '{}'", name);
  }
  tensors_.emplace_back(name, t);
  return Status::Ok();
}

std::string GgufWriter::header_bytes() const {
  std::string buf;
  put<uint32_t>(buf, kGgufMagic);
  put<uint32_t>(buf, 3);
  put<uint64_t>(buf, tensors_.size());
  put<uint64_t>(buf, metadata_.size());
  for (const auto& [key, v] : metadata_) {
    put_string(buf, key);
    put<uint32_t>(buf, static_cast<uint32_t>(v.type));
    put_value(buf, v);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    put_string(buf, name);
    put<uint32_t>(buf, static_cast<uint32_t>(t.ndim()));
    for (int d = t.ndim() - 1; d >= 0; --d) put<uint64_t>(buf, t.dim(d));  // ne[0] = last dim
    put<uint32_t>(buf, static_cast<uint32_t>(ggml_type_of(t.dtype())));
    put<uint64_t>(buf, offset);
    offset = align_up(offset + t.nbytes(), alignment_);
  }
  buf.resize(align_up(buf.size(), alignment_), '\0');
  return buf;
}

Status GgufWriter::write(const std::string& path) const {
  bool has_alignment = false;
  for (const auto& kv : metadata_) has_alignment |= kv.first == "general.alignment";
  if (alignment_ != kGgufDefaultAlignment && !has_alignment) {
    return make_error(ErrorCode::kInternal,
                      "{}: alignment {} needs general.alignment in the metadata", path, alignment_);
  }
  LRKV_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  const std::string header = header_bytes();
  LRKV_RETURN_IF_ERROR(f.write(header.data(), header.size()));
  for (const auto& [name, t] : tensors_) {
    const uint64_t n = static_cast<uint64_t>(t.nbytes());
    LRKV_RETURN_IF_ERROR(f.write(t.data(), n));
    LRKV_RETURN_IF_ERROR(f.write_zeros(align_up(n, alignment_) - n));
  }
  return f.commit();
}

}  // namespace lrkv
