// KvCacheSpec: what a KV cache stores, chosen by the user (`--kv-type`, `--latent-bits ...`) and
// turned into a cache by Engine::make_cache.
//   float rows   f32 | f16 | bf16            dense keys/values, or latents of a compressed model
//   q8_0 | q4_0  llama.cpp blocks of 32 along each row (fp16 scale per block): dense rows, or the
//                latent rows of a compressed model when every group rank is a multiple of 32
//   kivi<b>      KIVI-style dense cache (cache/kivi_kv_cache.h): keys per channel over G tokens,
//                values per token, b-bit asymmetric, R most recent tokens in fp16
//   latent bits  compressed models: latents per token per group slice, asymmetric or symmetric,
//                8/4/3/2 bits, `group` values per fp16 scale (cache/quantized_row_cache.h)
#pragma once

#include <string>

#include "core/dtype.h"
#include "core/status.h"

namespace lrkv {

enum class KvQuant : uint8_t { kNone, kQ8_0, kQ4_0, kKivi };

struct KiviParams {
  int bits = 2;
  int group = 32;      // G: key tokens per channel scale, value channels per scale
  int residual = 128;  // R: recent tokens kept in fp16 (a multiple of G)
};

struct LatentQuantParams {
  int bits = 0;    // 0 = latents stay float (dtype); else 8, 4, 3 or 2
  int group = 32;  // values per scale inside a group slice; 0 = the whole slice
  bool symmetric = false;
};

// Paged storage (cache/block_pool.h): n_blocks blocks of block_rows rows shared by all sequences
// through block tables, instead of `capacity` rows reserved per sequence. Host row caches only
// (float, q8_0/q4_0, quantized latents); `lrkv serve` uses it on the CPU.
struct KvPaging {
  int n_blocks = 0;     // 0: not paged
  int block_rows = 16;  // a power of two
  bool paged() const { return n_blocks > 0; }
};

struct KvCacheSpec {
  DType dtype = DType::kF32;  // float rows (kNone without latent bits)
  KvQuant quant = KvQuant::kNone;
  KiviParams kivi;
  LatentQuantParams latent;
  KvPaging paging;

  KvCacheSpec() = default;
  KvCacheSpec(DType t) : dtype(t) {}  // NOLINT(google-explicit-constructor): a float cache
  bool quantized() const { return quant != KvQuant::kNone || latent.bits > 0; }
  std::string name() const;  // "f16", "q4_0", "kivi2 g32 r128", "latent int4 asym g32"
  // Ranges of every field; errors name the CLI flag (e.g. "--latent-bits 5: expected 8, 4, 3 or
  // 2").
  Status validate() const;
};

// block_rows a power of two in [1, 4096], n_blocks >= 0 (errors name --kv-block).
Status validate_paging(const KvPaging& paging);

// Parses a --kv-type value: f32, f16, bf16, q8_0, q4_0, kivi2, kivi4 (other fields default).
Result<KvCacheSpec> parse_kv_type(const std::string& flag, const std::string& value);

}  // namespace lrkv
