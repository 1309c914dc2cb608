// CudaKvCache: the device storage of a CudaEngine's past tokens, made by CudaEngine::make_cache
// and read only by the engine that made it. Per layer one K and one V buffer:
//   dense models   f16/bf16, head-major      [seq][kv head][token][head_dim]
//   latent, float  f16/bf16, token rows      [seq][token][Σ rank]
//   latent, quant  kernels/quant_row.h rows, segment-major [seq][group][token][segment bytes]
//                  when every group of a side has the same rank, else token rows
//                  [seq][token][row bytes] (the CPU QuantizedRowCache row layout)
// Lengths live in KvCache (host ints): truncate() forgets tokens without touching the device.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "cache/kv_cache.h"
#include "cache/kv_cache_spec.h"
#include "kernels/quant_row.h"

namespace lrkv::cuda {

// Byte layout of one side (K or V) of one layer's quantized latents.
struct QuantLayout {
  RowCodec codec;
  bool seg_major = false;        // segment-major (equal ranks) or token rows
  int64_t row_stride = 0;        // bytes between rows of a segment
  int64_t seq_bytes = 0;         // bytes between sequences (segment regions padded to 256 bytes)
  std::vector<int64_t> seg_off;  // per group: byte offset of its segment (within a sequence)
};

class CudaKvCache final : public KvCache {
 public:
  CudaKvCache(const void* owner, int n_seq, int capacity, KvCacheSpec spec, std::string kind)
      : KvCache(n_seq), owner_(owner), capacity_(capacity), spec_(std::move(spec)), kind_(std::move(kind)),
        serial_(next_serial()) {}
  std::string kind() const override { return kind_; }
  int n_layer() const override { return static_cast<int>(k.size()); }
  int n_seq() const override { return static_cast<int>(lengths_.size()); }
  int capacity() const override { return capacity_; }
  int64_t bytes_per_token(int layer) const override;
  using KvCache::bytes_per_token;
  int64_t allocated_bytes() const override;
  const void* device_owner() const override { return owner_; }

  const KvCacheSpec& spec() const { return spec_; }
  bool quantized() const { return spec_.latent.bits > 0; }
  DType dtype() const { return spec_.dtype; }  // element type of float rows
  // Unique per cache made in this process (decode graphs bake its buffers' addresses in).
  uint64_t serial() const { return serial_; }

  std::vector<DeviceBuffer> k, v;             // per layer
  std::vector<QuantLayout> k_quant, v_quant;  // per layer (quantized latents only)
  std::vector<int64_t> token_bytes;           // per layer: K + V bytes of one token

 private:
  const void* owner_;
  int capacity_;
  KvCacheSpec spec_;
  std::string kind_;
  uint64_t serial_;
  static uint64_t next_serial() {
    static std::atomic<uint64_t> n{0};
    return ++n;
  }
};

}  // namespace lrkv::cuda
