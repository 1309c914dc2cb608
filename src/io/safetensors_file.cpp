#include "io/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"

namespace lrkv {

namespace {
using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // 100 MB: far above any real header
constexpr int64_t kMaxDim = int64_t{1} << 40;

// The loadable safetensors dtypes.
bool parse_dtype(const std::string& s, DType* out) {
  if (s == "F32")
    *out = DType::kF32;
  else if (s == "F16")
    *out = DType::kF16;
  else if (s == "BF16")
    *out = DType::kBF16;
  else if (s == "F64")  // calibration statistics
    *out = DType::kF64;
  else
    return false;
  return true;
}

Status bad(const std::string& source, const std::string& name, const std::string& what) {
  return make_error(ErrorCode::kCorruptFile, "{}: tensor '{}': {}", source, name, what);
}

// Reads a JSON array of non-negative integers.
bool read_uints(const json& j, std::vector<int64_t>* out) {
  if (!j.is_array()) return false;
  for (const json& v : j) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > static_cast<uint64_t>(kMaxDim)) return false;
    out->push_back(v.get<int64_t>());
  }
  return true;
}

// Validates one header entry against the data section [data, data + data_size) and makes a view
// (or an aligned copy when the offsets leave the data misaligned for the element type).
Result<Tensor> parse_entry(const std::string& name, const json& e, const uint8_t* data,
                           uint64_t data_size, const std::shared_ptr<void>& owner,
                           const std::string& source) {
  if (!e.is_object()) return bad(source, name, "header entry is not an object");
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) return bad(source, name, "missing string 'dtype'");
  DType dtype;
  if (!parse_dtype(dt->get<std::string>(), &dtype)) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: tensor '{}' has dtype {} (only F32, F16, BF16 "
                      "and F64 are supported)",
                      source, name, dt->get<std::string>());
  }
  std::vector<int64_t> shape, offs;
  auto sh = e.find("shape");
  if (sh == e.end() || !read_uints(*sh, &shape)) return bad(source, name, "bad or missing 'shape'");
  auto of = e.find("data_offsets");
  if (of == e.end() || !read_uints(*of, &offs) || offs.size() != 2) {
    return bad(source, name, "bad or missing 'data_offsets' (want [begin, end])");
  }
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(numel, d, &numel) || numel > kMaxDim) {
      return bad(source, name, "shape " + shape_to_string(shape) + " overflows");
    }
  }
  const uint64_t begin = offs[0], end = offs[1];
  const uint64_t want = static_cast<uint64_t>(dtype_bytes(dtype, numel));
  if (begin > end || end > data_size) {
    return bad(source, name,
               fmt::format("data_offsets [{}, {}) outside the data section of {} bytes "
                           "(file truncated?)",
                           begin, end, data_size));
  }
  if (end - begin != want) {
    return bad(source, name,
               fmt::format("data_offsets [{}, {}) hold {} bytes, but {} {} needs {}", begin, end,
                           end - begin, dt->get<std::string>(), shape_to_string(shape), want));
  }
  const size_t align = static_cast<size_t>(dtype_block_bytes(dtype));
  if (begin % align != 0) {
    return bad(source, name,
               fmt::format("data_offsets begin {} is not a multiple of the {}-byte {} element", begin,
                           align, dt->get<std::string>()));
  }
  void* p = const_cast<uint8_t*>(data + begin);
  if (reinterpret_cast<uintptr_t>(p) % align != 0) {  // legal but unusual: copy to aligned memory
    Tensor t = Tensor::zeros(dtype, shape, name);
    std::memcpy(t.data(), p, want);
    return t;
  }
  return Tensor::view(dtype, shape, p, owner, name);
}

// The tensors must tile the data section exactly, as the format requires: no two share a byte
// (an aliased or overlapping tensor) and no byte belongs to none (a hole, e.g. offsets shifted by
// one). Entries whose offsets are malformed are left to parse_entry's messages.
Status check_tiling(const json& header, uint64_t section_size, const std::string& source) {
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__" || !it->is_object()) continue;
    auto of = it->find("data_offsets");
    if (of == it->end() || !of->is_array() || of->size() != 2 || !(*of)[0].is_number_unsigned() ||
        !(*of)[1].is_number_unsigned()) {
      continue;
    }
    spans.push_back({(*of)[0].get<uint64_t>(), (*of)[1].get<uint64_t>(), it.key()});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Span* last = nullptr;
  for (const Span& sp : spans) {
    if (sp.begin < covered) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap in the data section",
                        source, last->name, last->begin, last->end, sp.name, sp.begin, sp.end);
    }
    if (sp.begin > covered) {
      return make_error(ErrorCode::kCorruptFile,
                        "{}: bytes [{}, {}) of the data section belong to no tensor (tensor '{}' starts "
                        "at {}; misplaced data_offsets?)", source, covered, sp.begin, sp.name, sp.begin);
    }
    if (sp.end > covered) {
      covered = sp.end;
      last = &sp;
    } else if (last == nullptr) {
      last = &sp;
    }
  }
  if (covered < section_size && !spans.empty()) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: the last {} bytes of the data section belong to no tensor (the tensors end "
                      "at {} of {})", source, section_size - covered, covered, section_size);
  }
  return Status::Ok();
}

Status parse_metadata(const json& m, const std::string& source,
                      std::map<std::string, std::string>* out) {
  if (!m.is_object()) {
    return make_error(ErrorCode::kCorruptFile, "{}: '__metadata__' is not an object", source);
  }
  for (auto it = m.begin(); it != m.end(); ++it) {
    (*out)[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  return Status::Ok();
}
}  // namespace

Result<SafetensorsFile> parse_safetensors(const uint8_t* data, uint64_t size,
                                          std::shared_ptr<void> owner, const std::string& source) {
  if (size == 0) return make_error(ErrorCode::kCorruptFile, "{}: file is empty (0 bytes)", source);
  if (size < 8) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: truncated: {} bytes is too short for the 8-byte "
                      "safetensors header length",
                      source, size);
  }
  uint64_t n = 0;
  std::memcpy(&n, data, 8);  // little-endian hosts only (x86-64, aarch64)
  if (n > size - 8 || n > kMaxHeaderBytes) {
    return make_error(ErrorCode::kCorruptFile,
                      "{}: header length {} exceeds the file size {} (or the "
                      "100 MB limit); not a safetensors file?",
                      source, n, size);
  }
  json header;
  try {
    header = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kCorruptFile, "{}: bad JSON header: {}", source, e.what());
  }
  if (!header.is_object()) {
    return make_error(ErrorCode::kCorruptFile, "{}: JSON header is not an object", source);
  }
  SafetensorsFile f;
  LRKV_RETURN_IF_ERROR(check_tiling(header, size - 8 - n, source));
  const uint8_t* section = data + 8 + n;
  const uint64_t section_size = size - 8 - n;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      LRKV_RETURN_IF_ERROR(parse_metadata(*it, source, &f.metadata));
      continue;
    }
    LRKV_ASSIGN_OR_RETURN(Tensor t,
                          parse_entry(it.key(), *it, section, section_size, owner, source));
    f.tensors.emplace(it.key(), std::move(t));
  }
  return f;
}

Result<SafetensorsFile> read_safetensors(const std::string& path) {
  LRKV_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  LRKV_ASSIGN_OR_RETURN(SafetensorsFile f,
                        parse_safetensors(file->data(), file->size(), file, path));
  f.file = std::move(file);
  return f;
}

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    case DType::kF64:
      return "F64";
    default:
      return nullptr;
  }
}

Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::map<std::string, std::string>& metadata) {
  // Widest element first keeps every tensor aligned without gaps (the format forbids holes).
  std::vector<const SafetensorsEntry*> order;
  for (const SafetensorsEntry& e : entries) {
    if (safetensors_dtype_name(e.tensor->dtype()) == nullptr) {
      return make_error(ErrorCode::kUnsupported,
                        "{}: tensor '{}' has dtype {}; safetensors output "
                        "supports f32, f16 and bf16",
                        path, e.name, dtype_name(e.tensor->dtype()));
    }
    order.push_back(&e);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return dtype_block_bytes(a->tensor->dtype()) > dtype_block_bytes(b->tensor->dtype());
  });
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const SafetensorsEntry* e : order) {
    if (header.contains(e->name) || e->name == "__metadata__") {
      return make_error(ErrorCode::kInvalidArgument, "{}: duplicate or reserved tensor name '{}'",
                        path, e->name);
    }
    const uint64_t nb = static_cast<uint64_t>(e->tensor->nbytes());
    header[e->name] = {{"dtype", safetensors_dtype_name(e->tensor->dtype())},
                       {"shape", e->tensor->shape()},
                       {"data_offsets", {offset, offset + nb}}};
    offset += nb;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  LRKV_ASSIGN_OR_RETURN(AtomicFile out, AtomicFile::create(path));
  LRKV_RETURN_IF_ERROR(out.write(&n, 8));
  LRKV_RETURN_IF_ERROR(out.write(text.data(), text.size()));
  for (const SafetensorsEntry* e : order) {
    LRKV_RETURN_IF_ERROR(out.write(e->tensor->data(), static_cast<size_t>(e->tensor->nbytes())));
  }
  return out.commit();
}

}  // namespace lrkv
