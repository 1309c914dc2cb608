#include "cache/kv_cache_spec.h"

#include <fmt/format.h>

namespace lrkv {

std::string KvCacheSpec::name() const {
  std::string base;
  switch (quant) {
    case KvQuant::kNone:
      base = std::string(dtype_name(dtype));
      break;
    case KvQuant::kQ8_0:
      base = "q8_0";
      break;
    case KvQuant::kQ4_0:
      base = "q4_0";
      break;
    case KvQuant::kKivi:
      base = fmt::format("kivi{} g{} r{}", kivi.bits, kivi.group, kivi.residual);
      break;
  }
  if (latent.bits == 0) return base;
  return fmt::format("latent int{} {} g{}", latent.bits, latent.symmetric ? "sym" : "asym",
                     latent.group > 0 ? std::to_string(latent.group) : std::string("-slice"));
}

Status validate_paging(const KvPaging& paging) {
  if (paging.n_blocks < 0 || paging.block_rows < 1 || paging.block_rows > 4096 ||
      (paging.block_rows & (paging.block_rows - 1)) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--kv-block {}: expected a power of two in [1, 4096] ({} blocks)",
                      paging.block_rows, paging.n_blocks);
  }
  return Status::Ok();
}

Status KvCacheSpec::validate() const {
  LRKV_RETURN_IF_ERROR(validate_paging(paging));
  if (quant == KvQuant::kNone && dtype != DType::kF32 && dtype != DType::kF16 &&
      dtype != DType::kBF16) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--kv-type {}: expected f32, f16, bf16, q8_0, q4_0, kivi2 "
                      "or kivi4",
                      dtype_name(dtype));
  }
  if (latent.bits != 0 && latent.bits != 8 && latent.bits != 4 && latent.bits != 3 &&
      latent.bits != 2) {
    return make_error(ErrorCode::kInvalidArgument, "--latent-bits {}: expected 8, 4, 3 or 2",
                      latent.bits);
  }
  if (latent.group < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--latent-group {}: expected >= 1, or 0 for the whole "
                      "slice",
                      latent.group);
  }
  if (latent.bits != 0 && quant != KvQuant::kNone) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--latent-bits and --kv-type {} are exclusive (pick one "
                      "quantisation)",
                      name());
  }
  if (quant == KvQuant::kKivi) {
    if (kivi.bits < 1 || kivi.bits > 8) {
      return make_error(ErrorCode::kInvalidArgument, "kivi bits {}: expected 1..8", kivi.bits);
    }
    if (kivi.group < 1 || kivi.residual < kivi.group || kivi.residual % kivi.group != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--kivi-group {} / --kivi-residual {}: the residual must "
                        "be a positive multiple of the group",
                        kivi.group, kivi.residual);
    }
  }
  return Status::Ok();
}

Result<KvCacheSpec> parse_kv_type(const std::string& flag, const std::string& value) {
  KvCacheSpec s;
  if (value == "q8_0") {
    s.quant = KvQuant::kQ8_0;
  } else if (value == "q4_0") {
    s.quant = KvQuant::kQ4_0;
  } else if (value == "kivi2" || value == "kivi4") {
    s.quant = KvQuant::kKivi;
    s.kivi.bits = value == "kivi2" ? 2 : 4;
  } else if (value == "f32" || value == "f16" || value == "bf16") {
    dtype_from_name(value, &s.dtype);
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "{} '{}': expected one of f32, f16, bf16, q8_0, q4_0, kivi2, "
                      "kivi4",
                      flag, value);
  }
  return s;
}

}  // namespace lrkv
