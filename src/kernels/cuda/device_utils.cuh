// Device building blocks shared by the CUDA kernels: 16-bit element traits, tensor-core
// mma.sync (m16n8k16, fp32 accumulate), ldmatrix, cp.async and base-2 exponent.
// Fragment layouts (PTX ISA, "mma.m16n8k16"), g = lane / 4, t = lane % 4:
//   A 16x16 row:  a0 (g, 2t..2t+1)  a1 (g+8, 2t..)  a2 (g, 2t+8..)  a3 (g+8, 2t+8..)
//   B 16x8  col:  b0 (k 2t..2t+1, n g)  b1 (k 2t+8.., n g)
//   C 16x8  f32:  c0,c1 (g, 2t..2t+1)   c2,c3 (g+8, 2t..2t+1)
// Requires sm_80 or newer (the build targets sm_90 and compute_80 PTX).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace lrkv::cuda::dev {

// Blocks of `threads` for a grid-stride loop over n elements (at least 1, capped at 65535·8).
inline int grid_stride_blocks(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<int>(b < 65535 * 8 ? (b > 0 ? b : 1) : 65535 * 8);
}

// 16-bit storage types the kernels are instantiated for.
template <class T>
struct Elem;
template <>
struct Elem<__nv_bfloat16> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};
template <>
struct Elem<__half> {
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}

// 16-byte asynchronous global->shared copy; bytes beyond src_bytes (0..16) are zero-filled.
// kPrefetch256: the L2 fetches 256-byte blocks from DRAM (rows of a segment are contiguous and
// read in full); else 128-byte blocks (segments interleaved with other heads' data).
template <bool kPrefetch256>
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, int src_bytes) {
  if constexpr (kPrefetch256) {
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(src_bytes));
  } else {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
                 "r"(src_bytes));
  }
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// 2^x (ex2.approx: relative error ~2^-22; 2^-inf = +0).
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// 2^(a - b) with 2^(-inf - -inf) taken as 0 (two empty softmax states).
__device__ __forceinline__ float exp2_diff(float a, float b) {
  return b == -INFINITY ? 0.0f : exp2_approx(a - b);
}

// cos/sin of (pos * f) with the product kept exact (two-product) and a Cody-Waite reduction by
// 2*pi, so angles up to ~1e6 rad keep ~1e-6 absolute accuracy (positions to 1M tokens).
__device__ __forceinline__ void rope_sincos(int pos, float f, float* c, float* s) {
  const float p = static_cast<float>(pos);  // exact for pos < 2^24
  const float hi = p * f;
  const float lo = fmaf(p, f, -hi);
  const float k = rintf(hi * 0.15915494309189535f);
  float r = fmaf(-k, 6.28125f, hi);              // 2*pi split: 6.28125 (exact, 8 bits)
  r = fmaf(-k, 1.9353071693331003e-3f, r);      // next 24 bits (float nearest)
  r = fmaf(-k, 1.0253376606378076e-11f, r);      // what the two above leave of 2*pi
  r += lo;
  __sincosf(r, s, c);
}

// Pair `pair` of the head at x rotated by RoPE at position pos (angle pos * inv_freq, negated
// when `inverse`): its indices (pair, pair + half | 2 pair, 2 pair + 1) and new values
//   y0 = x0 c - x1 s,  y1 = x0 s + x1 c,
// each product and sum rounded on its own (_rn intrinsics: never contracted into an FMA), so the
// kernels that rotate through here (rope_qk, segment_project's fused absorption) give the same
// bits whatever the compiler does around them.
__device__ __forceinline__ void rope_pair(const float* x, int pair, int half, bool half_split, int pos, float inv_freq,
                                          bool inverse, int* i0, int* i1, float* y0, float* y1) {
  *i0 = half_split ? pair : 2 * pair;
  *i1 = half_split ? pair + half : 2 * pair + 1;
  float c, s;
  rope_sincos(pos, inv_freq, &c, &s);
  if (inverse) s = -s;
  const float x0 = x[*i0], x1 = x[*i1];
  *y0 = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
  *y1 = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
}

// Σ of v over the 32 lanes of a full warp, in every lane (butterfly of xor shuffles).
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

}  // namespace lrkv::cuda::dev
