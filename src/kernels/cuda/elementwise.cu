#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cache_store.cuh"
#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/pdl.cuh"

namespace lrkv::cuda {
namespace {

using dev::cache_at;
using dev::cache_write_from;
using dev::cache_write_one;
using dev::rope_pair;
using dev::store_from_float;

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return dev::grid_stride_blocks(n, kThreads); }
// Row-wise kernels: x blocks cover the columns (per_thread each), y the rows (grid-stride past 65535).
dim3 rows_grid(int64_t rows, int64_t cols, int per_thread) {
  const int64_t span = int64_t{kThreads} * per_thread;
  return dim3(static_cast<unsigned>(std::max<int64_t>((cols + span - 1) / span, 1)),
              static_cast<unsigned>(std::clamp<int64_t>(rows, 1, 65535)));
}

__device__ __forceinline__ float load_as_float(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::kF16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

__global__ void embedding_kernel(const void* table, DType type, int64_t d, const int* tokens, int64_t n, float* out,
                                 int64_t ldo) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n * d; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / d, c = i % d;
    out[t * ldo + c] = load_as_float(table, type, int64_t{tokens[t]} * d + c);
  }
}

// y = x / sqrt(mean(x²) + eps) ⊙ weight, one CTA per row. The generic loop issues one dependent
// load after another (~14 µs for a 4096-wide row measured by ncu, twice per layer at decode); the
// vector form loads the row and the weight as float4 into registers up front (kNormVec each per
// thread).
constexpr int kNormVec = 4;  // float4 per thread: rows up to kThreads * 4 * kNormVec = 4096 values

__device__ __forceinline__ float block_sum(float v, float* part) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < kThreads / 32 ? part[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) part[0] = v;
  }
  __syncthreads();
  return part[0];
}

__global__ void rmsnorm_vec_kernel(const float* xs, const float* weight, float* ys, int64_t cols, int64_t ld, float eps) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const float4* x = reinterpret_cast<const float4*>(xs + blockIdx.x * ld);
  const float4* w4 = reinterpret_cast<const float4*>(weight);
  float4* y = reinterpret_cast<float4*>(ys + blockIdx.x * ld);
  const int n4 = static_cast<int>(cols / 4);
  float4 xv[kNormVec], wv[kNormVec];
  float ss = 0.0f;
#pragma unroll
  for (int u = 0; u < kNormVec; ++u) {
    const int i = threadIdx.x + u * kThreads;
    xv[u] = i < n4 ? x[i] : make_float4(0.f, 0.f, 0.f, 0.f);
    wv[u] = i < n4 ? __ldg(w4 + i) : make_float4(0.f, 0.f, 0.f, 0.f);
  }
#pragma unroll
  for (int u = 0; u < kNormVec; ++u) ss += xv[u].x * xv[u].x + xv[u].y * xv[u].y + xv[u].z * xv[u].z + xv[u].w * xv[u].w;
  __shared__ float part[kThreads / 32];
  const float inv = rsqrtf(block_sum(ss, part) / static_cast<float>(cols) + eps);
#pragma unroll
  for (int u = 0; u < kNormVec; ++u) {
    const int i = threadIdx.x + u * kThreads;
    if (i < n4) {
      y[i] = make_float4(xv[u].x * inv * wv[u].x, xv[u].y * inv * wv[u].y, xv[u].z * inv * wv[u].z,
                         xv[u].w * inv * wv[u].w);
    }
  }
}

__global__ void rmsnorm_kernel(const float* xs, const float* weight, float* ys, int64_t cols, int64_t ld, float eps) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const float* x = xs + blockIdx.x * ld;
  float* y = ys + blockIdx.x * ld;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) ss += x[c] * x[c];
  __shared__ float part[kThreads / 32];
  const float inv = rsqrtf(block_sum(ss, part) / static_cast<float>(cols) + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) y[c] = x[c] * inv * weight[c];
}

__global__ void rope_kernel(float* xs, int64_t rows, int64_t ld, int n_heads, int head_dim, const int* positions,
                            const float* inv_freq, bool half_split, bool inverse) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const int half = head_dim / 2;
  const int64_t n = rows * n_heads * half;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int pair = static_cast<int>(i % half);
    const int64_t rh = i / half;
    const int h = static_cast<int>(rh % n_heads);
    const int64_t r = rh / n_heads;
    float* x = xs + r * ld + int64_t{h} * head_dim;
    int i0, i1;
    float y0, y1;
    rope_pair(x, pair, half, half_split, positions[r], inv_freq[pair], inverse, &i0, &i1, &y0, &y1);
    x[i0] = y0;
    x[i1] = y1;
  }
}

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + __expf(-g)) * u; }

// Thread (x, row): columns [4x, 4x + 4) of rows row, row + gridDim.y, ... (float4 when `vec`:
// ld and the pointers 16-byte aligned). Grid from rows_grid (no division per element).
__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t rows, int64_t cols, int64_t ld,
                              bool vec) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const int64_t c = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) * 4;
  if (c >= cols) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t i = r * ld + c;
    if (vec && c + 4 <= cols) {
      const float4 g = *reinterpret_cast<const float4*>(gate + i), u = *reinterpret_cast<const float4*>(up + i);
      *reinterpret_cast<float4*>(out + i) =
          make_float4(silu_mul(g.x, u.x), silu_mul(g.y, u.y), silu_mul(g.z, u.z), silu_mul(g.w, u.w));
    } else {
      for (int k = 0; k < 4 && c + k < cols; ++k) out[i + k] = silu_mul(gate[i + k], up[i + k]);
    }
  }
}

// Thread (x, row): column x of rows row, row + gridDim.y, ... (rows_grid).
__global__ void add_row_vector_kernel(float* y, int64_t ld, int64_t rows, int64_t cols, const float* v, float alpha) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= cols) return;
  const float a = alpha * v[c];
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) y[r * ld + c] += a;
}

// Thread (x, row) converts columns [4x, 4x + 4) of rows row, row + gridDim.y, ...: one 16-byte
// load and one 8-byte (16-bit types) or 16-byte store when `vec` (rows and strides aligned to 4
// elements), else element by element. No division per element (the GEMM inputs of a prompt chunk
// go through here: 4096 x 14336 values per projection).
template <class T>
__device__ __forceinline__ void store4(T* d, float4 v) {
  if constexpr (sizeof(T) == 4) {
    *reinterpret_cast<float4*>(d) = v;
  } else {
    *reinterpret_cast<uint2*>(d) = make_uint2(dev::Elem<T>::pack(v.x, v.y), dev::Elem<T>::pack(v.z, v.w));
  }
}
template <class T>
__device__ __forceinline__ T from_f32(float x) {
  if constexpr (sizeof(T) == 4) {
    return x;
  } else {
    return dev::Elem<T>::from_float(x);
  }
}

template <class T>
__global__ void convert_kernel(const float* src, int64_t ld_src, T* dst, int64_t ld_dst, int64_t rows, int64_t cols,
                               bool vec) {
  const int64_t c = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) * 4;
  if (c >= cols) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* s = src + r * ld_src + c;
    T* d = dst + r * ld_dst + c;
    if (vec && c + 4 <= cols) {
      store4(d, *reinterpret_cast<const float4*>(s));
    } else {
      for (int k = 0; k < 4 && c + k < cols; ++k) d[k] = from_f32<T>(s[k]);
    }
  }
}

__global__ void split_rows_kernel(const float* src, int64_t ld_src, void* dst, DType t, int64_t rows, int64_t cols) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * cols; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / cols, c = i % cols;
    const float x = src[r * ld_src + c];
    float hi;
    if (t == DType::kF16) {
      const __half h = __float2half_rn(x);
      static_cast<__half*>(dst)[i] = h;
      hi = __half2float(h);
    } else {
      const __nv_bfloat16 h = __float2bfloat16_rn(x);
      static_cast<__nv_bfloat16*>(dst)[i] = h;
      hi = __bfloat162float(h);
    }
    store_from_float(dst, t, rows * cols + i, x - hi);
  }
}

__global__ void add_halves_kernel(const float* y2, int64_t rows, int64_t cols, float* y, int64_t ldy, bool acc) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * cols; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / cols, c = i % cols;
    const float s = y2[i] + y2[rows * cols + i];
    y[r * ldy + c] = acc ? y[r * ldy + c] + s : s;
  }
}

struct CacheWritePair {
  CacheWriteParams p[2];
  int n = 1;
};

__global__ void cache_write_kernel(const __grid_constant__ CacheWritePair w) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x, n = int64_t{gridDim.x} * blockDim.x;
  for (int s = 0; s < w.n; ++s) cache_write_from(w.p[s], i, n);
}

// Thread index space: q pairs | k pairs | v elements (grid-stride over the three).
__global__ void rope_qk_kernel(const __grid_constant__ RopeQkArgs a) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const int half = a.head_dim / 2;
  const int64_t nq = a.rows * a.n_q_heads * half, nk = a.rows * a.n_k_heads * half;
  const int64_t nv = a.v_cache.dst ? a.rows * a.v_cache.width : 0;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < nq + nk + nv; i += stride) {
    if (i >= nq + nk) {
      cache_write_one(a.v_cache, i - nq - nk);
      continue;
    }
    const bool is_k = i >= nq;
    const int64_t e = is_k ? i - nq : i;
    const int n_heads = is_k ? a.n_k_heads : a.n_q_heads;
    const int pair = static_cast<int>(e % half);
    const int64_t rh = e / half;
    const int h = static_cast<int>(rh % n_heads);
    const int64_t r = rh / n_heads;
    float* x = (is_k ? a.k + r * a.ldk : a.q + r * a.ldq) + int64_t{h} * a.head_dim;
    int i0, i1;
    float y0, y1;
    rope_pair(x, pair, half, a.half_split, a.positions[r], a.inv_freq[pair], false, &i0, &i1, &y0, &y1);
    if (is_k && a.k_mean) {
      y0 -= a.k_mean[h * a.head_dim + i0];
      y1 -= a.k_mean[h * a.head_dim + i1];
    }
    x[i0] = y0;
    x[i1] = y1;
    if (is_k && a.k_cache.dst) {
      store_from_float(a.k_cache.dst, a.k_cache.type, cache_at(a.k_cache, r, h * a.head_dim + i0), y0);
      store_from_float(a.k_cache.dst, a.k_cache.type, cache_at(a.k_cache, r, h * a.head_dim + i1), y1);
    }
  }
}

// Thread (x, row): output column x of rows row, row + gridDim.y, ...
__global__ void swiglu_pairs_kernel(const float* in, int64_t ld_in, float* out, int64_t ld_out, int64_t rows,
                                    int64_t cols) {
  dev::pdl_trigger();  // launched with launch_pdl (pdl.cuh)
  dev::pdl_wait();
  const int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (c >= cols) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float2 gu = *reinterpret_cast<const float2*>(in + r * ld_in + 2 * c);
    out[r * ld_out + c] = silu_mul(gu.x, gu.y);
  }
}

}  // namespace

cudaError_t launch_embedding(const void* table, DType type, int64_t d, const int* tokens, int64_t n, float* out,
                             int64_t ldo, cudaStream_t stream) {
  return launch_pdl(embedding_kernel, blocks_for(n * d), kThreads, 0, stream, table, type, d, tokens, n, out, ldo);
}

cudaError_t launch_rmsnorm(const float* x, const float* weight, float* y, int64_t rows, int64_t cols, int64_t ld,
                           float eps, cudaStream_t stream) {
  const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  if (cols % 4 == 0 && ld % 4 == 0 && cols <= int64_t{kThreads} * 4 * kNormVec && aligned(x) && aligned(y) &&
      aligned(weight)) {
    return launch_pdl(rmsnorm_vec_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, x, weight, y, cols, ld, eps);
  }
  return launch_pdl(rmsnorm_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, x, weight, y, cols, ld, eps);
}

cudaError_t launch_rope(float* x, int64_t rows, int64_t ld, int n_heads, int head_dim, const int* positions,
                        const float* inv_freq, bool half_split, bool inverse, cudaStream_t stream) {
  return launch_pdl(rope_kernel, blocks_for(rows * n_heads * (head_dim / 2)), kThreads, 0, stream, x, rows, ld, n_heads,
                    head_dim, positions, inv_freq, half_split, inverse);
}

cudaError_t launch_swiglu(const float* gate, const float* up, float* out, int64_t rows, int64_t cols, int64_t ld,
                          cudaStream_t stream) {
  const bool vec = ld % 4 == 0 && (reinterpret_cast<uintptr_t>(gate) | reinterpret_cast<uintptr_t>(up) |
                                    reinterpret_cast<uintptr_t>(out)) % 16 == 0;
  return launch_pdl(swiglu_kernel, rows_grid(rows, cols, 4), kThreads, 0, stream, gate, up, out, rows, cols, ld, vec);
}

cudaError_t launch_swiglu_pairs(const float* in, int64_t ld_in, float* out, int64_t ld_out, int64_t rows,
                                int64_t cols, cudaStream_t stream) {
  if (ld_in % 2 != 0 || reinterpret_cast<uintptr_t>(in) % 8 != 0) return cudaErrorInvalidValue;  // float2 pairs
  return launch_pdl(swiglu_pairs_kernel, rows_grid(rows, cols, 1), kThreads, 0, stream, in, ld_in, out, ld_out, rows,
                    cols);
}

cudaError_t launch_add_row_vector(float* y, int64_t ld, int64_t rows, int64_t cols, const float* v, float alpha,
                                  cudaStream_t stream) {
  return launch_pdl(add_row_vector_kernel, rows_grid(rows, cols, 1), kThreads, 0, stream, y, ld, rows, cols, v, alpha);
}

cudaError_t launch_convert_rows(const float* src, int64_t ld_src, void* dst, DType type, int64_t ld_dst,
                                int64_t rows, int64_t cols, cudaStream_t stream) {
  const dim3 grid = rows_grid(rows, cols, 4);
  const bool vec = ld_src % 4 == 0 && ld_dst % 4 == 0 && reinterpret_cast<uintptr_t>(src) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(dst) % (type == DType::kF32 ? 16 : 8) == 0;
  switch (type) {
    case DType::kF16:
      convert_kernel<<<grid, kThreads, 0, stream>>>(src, ld_src, static_cast<__half*>(dst), ld_dst, rows, cols, vec);
      break;
    case DType::kBF16:
      convert_kernel<<<grid, kThreads, 0, stream>>>(src, ld_src, static_cast<__nv_bfloat16*>(dst), ld_dst, rows, cols,
                                                    vec);
      break;
    default:
      convert_kernel<<<grid, kThreads, 0, stream>>>(src, ld_src, static_cast<float*>(dst), ld_dst, rows, cols, vec);
  }
  return cudaGetLastError();
}

cudaError_t launch_split_rows(const float* src, int64_t ld_src, void* dst, DType type, int64_t rows, int64_t cols,
                              cudaStream_t stream) {
  split_rows_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(src, ld_src, dst, type, rows, cols);
  return cudaGetLastError();
}

cudaError_t launch_add_halves(const float* y2, int64_t rows, int64_t cols, float* y, int64_t ldy, bool accumulate,
                              cudaStream_t stream) {
  add_halves_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(y2, rows, cols, y, ldy, accumulate);
  return cudaGetLastError();
}

cudaError_t launch_cache_write(const CacheWriteParams* p, int n, cudaStream_t stream) {
  if (n < 1 || n > 2) return cudaErrorInvalidValue;
  CacheWritePair w;
  int64_t most = 0;
  for (int i = 0; i < n; ++i) {
    w.p[i] = p[i];
    most = most > p[i].rows * p[i].width ? most : p[i].rows * p[i].width;
  }
  w.n = n;
  return launch_pdl(cache_write_kernel, blocks_for(most), kThreads, 0, stream, w);
}

cudaError_t launch_rope_qk(const RopeQkArgs& a, cudaStream_t stream) {
  const int64_t n = a.rows * (int64_t{a.n_q_heads + a.n_k_heads} * (a.head_dim / 2) +
                              (a.v_cache.dst ? a.v_cache.width : 0));
  return launch_pdl(rope_qk_kernel, blocks_for(n), kThreads, 0, stream, a);
}

}  // namespace lrkv::cuda
