// Device encoder of quantized latent rows (quant_encode.cuh): one warp per (row, segment).
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/quant_encode.cuh"

namespace lrkv::cuda {
namespace {

struct EncodePair {
  EncodeArgs side[2];
  int n = 1;
};
static_assert(sizeof(EncodePair) <= 4000, "kernel parameter limit");

// One warp per (row, segment of either side): group ranges, fp16 scale (and minimum), codes,
// packed bits.
__global__ void __launch_bounds__(32) quant_encode_kernel(const __grid_constant__ EncodePair pair) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  __shared__ uint8_t codes[kEncodeMaxLen];
  const bool second = static_cast<int>(blockIdx.y) >= pair.side[0].n_seg;
  dev::encode_segment_warp(pair.side[second ? 1 : 0], blockIdx.y - (second ? pair.side[0].n_seg : 0), blockIdx.x, codes);
}

}  // namespace

cudaError_t launch_quant_encode(const EncodeArgs* e, int n, int64_t rows, cudaStream_t stream) {
  if (n < 1 || n > 2) return cudaErrorInvalidValue;
  EncodePair pair;
  int segs = 0;
  for (int i = 0; i < n; ++i) {
    pair.side[i] = e[i];
    segs += e[i].n_seg;
  }
  pair.n = n;
  return launch_pdl(quant_encode_kernel, dim3(static_cast<unsigned>(rows), segs), 32, 0, stream, pair);
}

}  // namespace lrkv::cuda
