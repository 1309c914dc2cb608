// Device decoder of quantized latent rows into f16 token rows (DecodeArgs in
// quant_attention_args.h): the values of cpu::decode_segment (kernels/quant_row.h), computed in
// f32 and rounded to f16 once. Prefill chunks decode the cached prefix once and run the f16
// prefill kernel on it, instead of every 16-row tile decoding the whole prefix again.
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/pdl.cuh"
#include "kernels/cuda/quant_attention_args.h"

namespace lrkv::cuda {
namespace {

constexpr int kWarps = 8;  // one row per warp

__device__ __forceinline__ float f16_at(const uint8_t* p) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(p[0] | (p[1] << 8))));
}

// grid (ceil(rows / kWarps), n_seg, n_seq); lane i of a warp decodes values i, i + 32, ...
__global__ void __launch_bounds__(kWarps * 32) quant_decode_kernel(const __grid_constant__ DecodeArgs d) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const int j = blockIdx.x * kWarps + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (j >= d.rows) return;
  const int s = blockIdx.y, b = blockIdx.z, n = d.seg_len[s];
  const uint8_t* src = d.src + (d.maps.paged() ? 0 : b * d.seq_bytes) + d.maps.seq(b)(j) * d.row_bytes + d.seg_byte[s];
  __half* dst = static_cast<__half*>(d.dst) + (int64_t{b} * d.rows + j) * d.ld_dst + d.dst_col[s];
  const int gs = d.group > 0 ? d.group : n, ng = (n + gs - 1) / gs;
  const uint8_t* codes = src + ng * (d.sym ? 2 : 4);
  const uint32_t mask = (1u << d.bits) - 1u;
  const float q = static_cast<float>((1 << (d.bits - 1)) - 1);
  for (int i = lane; i < n; i += 32) {
    const int bit = i * d.bits, byte = bit >> 3;
    // A code of <= 8 bits spans at most two bytes; the second exists unless the code ends in the first.
    uint32_t w = codes[byte];
    if ((bit & 7) + d.bits > 8) w |= static_cast<uint32_t>(codes[byte + 1]) << 8;
    const float u = static_cast<float>((w >> (bit & 7)) & mask);
    const int g = i / gs;
    const float sc = f16_at(src + 2 * g);
    const float x = d.sym ? sc * (u - q) : sc * u + f16_at(src + 2 * (ng + g));
    dst[i] = __float2half_rn(x);
  }
}

}  // namespace

cudaError_t launch_quant_decode(const DecodeArgs& d, int n_seq, cudaStream_t stream) {
  if (d.rows <= 0) return cudaSuccess;
  const dim3 grid((d.rows + kWarps - 1) / kWarps, d.n_seg, n_seq);
  return launch_pdl(quant_decode_kernel, grid, kWarps * 32, 0, stream, d);
}

}  // namespace lrkv::cuda
