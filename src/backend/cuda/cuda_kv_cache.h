// CudaKvCache: the device storage of a CudaEngine's past tokens, made by CudaEngine::make_cache
// and read only by the engine that made it. Per layer one K and one V buffer:
//   dense models   f16/bf16, head-major      [seq][kv head][token][head_dim]
//   latent, float  f16/bf16, token rows      [seq][token][Σ rank]
//   latent, quant  kernels/quant_row.h rows, segment-major [seq][group][token][segment bytes]
//                  when every group of a side has the same rank, else token rows
//                  [seq][token][row bytes] (the CPU QuantizedRowCache row layout)
// Paged caches (spec.paging, KvCache::pages()): the [seq][token] dimensions become the storage
// rows of a block pool (n_blocks * block_rows rows shared by all sequences): dense
// [kv head][storage row][head_dim], latent token rows [storage row][Σ rank], quantized
// [group][storage row][segment bytes] or [storage row][row bytes]. The kernels find row j of a
// sequence through its block table (kernels/row_map.h), whose device copy `tables`
// ([n_seq][table_ld] int32) the engine uploads before each step.
// Lengths live in KvCache (host ints): truncate() forgets tokens without touching the device.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "cache/kv_cache.h"
#include "cache/kv_cache_spec.h"
#include "kernels/quant_row.h"
#include "kernels/row_map.h"

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
        serial_(next_serial()) {
    init_paging(spec_.paging);
  }
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

  // Rows of one head / segment region (all sequences' rows when paged, else one sequence's) and
  // rows between sequences (0 when paged: tables place them).
  int64_t region_rows() const { return pages() ? storage_rows(capacity_) : capacity_; }
  int64_t seq_rows() const { return pages() ? 0 : capacity_; }
  // Device row maps of sequences seq0, seq0 + 1, ... (contiguous: no table).
  SeqRowMaps maps(int seq0) const;
  // Paged: allocates the device tables (make_cache; zeros); upload_tables copies every
  // sequence's block table into them when any changed since the last upload (stream-ordered,
  // before the step that reads them).
  Status alloc_tables();
  Status upload_tables(cudaStream_t stream);

  std::vector<DeviceBuffer> k, v;             // per layer
  std::vector<QuantLayout> k_quant, v_quant;  // per layer (quantized latents only)
  std::vector<int64_t> token_bytes;           // per layer: K + V bytes of one token

 private:
  DeviceBuffer tables_;             // paged: [n_seq][table_ld_] block ids
  int64_t table_ld_ = 0;
  std::vector<int32_t> uploaded_;   // what tables_ holds (host copy)
  std::vector<int32_t> staging_;    // the tables of the next step, compared with uploaded_
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
