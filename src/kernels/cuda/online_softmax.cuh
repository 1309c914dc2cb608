// Online softmax on tensor cores, per warp: 16 rows (query heads) against a stream of 16-token
// slices. Scores arrive as two m16n8 f32 accumulator tiles in base-2 units (the query was
// pre-scaled by scale * log2 e); masked tokens hold -inf. The probabilities P are re-packed in
// registers as the A operand of P·V (the C layout of two n8 tiles is the A layout of k16), and V
// comes from shared memory through ldmatrix.trans. SoftmaxState::merge() combines partial
// states (warps of a CTA, splits of a sequence) flashinfer-style.
#pragma once

#include "kernels/cuda/device_utils.cuh"
#include "kernels/cuda/tile_swizzle.cuh"

namespace lrkv::cuda::dev {

// Running max m and sum l = Σ 2^(s - m) of a softmax over a stream of base-2 scores.
struct SoftmaxState {
  float m = -INFINITY;
  float l = 0.0f;
  // Folds `o` into this state; returns the factors for this state's and o's accumulators.
  __device__ __forceinline__ float2 merge(const SoftmaxState& o) {
    const float mn = fmaxf(m, o.m);
    const float a = exp2_diff(m, mn), b = exp2_diff(o.m, mn);
    l = l * a + o.l * b;
    m = mn;
    return make_float2(a, b);
  }
};

// Output accumulator of one warp: O[16 rows, R] in m16n8 tiles, plus the rows' states.
// Lane (g = lane/4, t = lane%4) holds rows g (st[0], o[..][0..1]) and g+8 (st[1], o[..][2..3]);
// st[].l is this lane's partial sum until finish() reduces it over the quad.
template <class T, int R>
struct WarpAttention {
  static constexpr int kTiles = R / 8;
  float o[kTiles][4];
  SoftmaxState st[2];

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int i = 0; i < kTiles; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    st[0] = SoftmaxState{};
    st[1] = SoftmaxState{};
  }

  // s[n][c]: scores of tokens 8n + 2t + (c & 1) for row g + 8 (c >> 1). v: shared memory rows of
  // the same 16 tokens (row stride ldv, or the swizzled layout of tile_swizzle.cuh when kSwz; v
  // then starts at a tile row that is a multiple of 8); v16: number of 16-wide column blocks of V
  // to read (kFull: all R / 16, no per-block test).
  template <bool kSwz = false, bool kFull = false>
  __device__ __forceinline__ void add(float (&s)[2][4], const T* v, int ldv, int v16) {
    float mx[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(fmaxf(s[0][2 * r], s[0][2 * r + 1]), fmaxf(s[1][2 * r], s[1][2 * r + 1]));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    }
    float alpha[2], mu[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float mn = fmaxf(st[r].m, mx[r]);
      mu[r] = mn == -INFINITY ? 0.0f : mn;  // all masked so far: any finite reference works
      alpha[r] = exp2_approx(st[r].m - mu[r]);
      st[r].m = mn;
    }
    float p[2][4];
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) p[n][c] = exp2_approx(s[n][c] - mu[c >> 1]);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) st[r].l = st[r].l * alpha[r] + p[0][2 * r] + p[0][2 * r + 1] + p[1][2 * r] + p[1][2 * r + 1];
#pragma unroll
    for (int i = 0; i < kTiles; ++i) {
      o[i][0] *= alpha[0];
      o[i][1] *= alpha[0];
      o[i][2] *= alpha[1];
      o[i][3] *= alpha[1];
    }
    const uint32_t a[4] = {Elem<T>::pack(p[0][0], p[0][1]), Elem<T>::pack(p[0][2], p[0][3]),
                           Elem<T>::pack(p[1][0], p[1][1]), Elem<T>::pack(p[1][2], p[1][3])};
    const int lane = threadIdx.x & 31;
    const TileRowChunks<kSwz, R> vrow(lane & 15, lane >> 4, ldv);
#pragma unroll
    for (int i = 0; i < R / 16; ++i) {
      if (kFull || i < v16) {
        uint32_t b[4];
        ldmatrix_x4_trans(b, v + vrow.at(i));
        Elem<T>::mma(o[2 * i], a, b[0], b[1]);
        Elem<T>::mma(o[2 * i + 1], a, b[2], b[3]);
      }
    }
  }

  // Sums the quad's partial l so every lane holds its rows' full state.
  __device__ __forceinline__ void finish() {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      st[r].l += __shfl_xor_sync(0xffffffffu, st[r].l, 1);
      st[r].l += __shfl_xor_sync(0xffffffffu, st[r].l, 2);
    }
  }
};

// Scores of the warp's 16 query rows (Q = q_hi + q_lo in shared memory, [16, ldq]) against 16
// cached rows (K in shared memory, [16, ldk], or swizzled when kSwz: see add()) over k16 blocks
// of 16 columns (kFull: all R / 16), tensor cores, f32 accumulate. The two accumulator sets halve
// the dependent mma chains.
template <class T, int R, bool kSwz = false, bool kFull = false>
__device__ __forceinline__ void warp_scores(float (&s)[2][4], const T* q_hi, const T* q_lo, int ldq, const T* k,
                                            int ldk, int k16) {
  const int lane = threadIdx.x & 31;
  float s2[2][2][4] = {};
  const int qoff = (lane & 15) * ldq + (lane >> 4) * 8;
  const TileRowChunks<kSwz, R> krow((lane & 7) + (lane >> 4) * 8, (lane >> 3) & 1, ldk);
#pragma unroll
  for (int i = 0; i < R / 16; ++i) {
    if (kFull || i < k16) {
      uint32_t ah[4], al[4], b[4];
      ldmatrix_x4(ah, q_hi + qoff + i * 16);
      ldmatrix_x4(al, q_lo + qoff + i * 16);
      ldmatrix_x4(b, k + krow.at(i));
      Elem<T>::mma(s2[0][0], ah, b[0], b[1]);
      Elem<T>::mma(s2[0][1], ah, b[2], b[3]);
      Elem<T>::mma(s2[1][0], al, b[0], b[1]);
      Elem<T>::mma(s2[1][1], al, b[2], b[3]);
    }
  }
#pragma unroll
  for (int n = 0; n < 2; ++n) {
#pragma unroll
    for (int c = 0; c < 4; ++c) s[n][c] = s2[0][n][c] + s2[1][n][c];
  }
}

// Sets scores of tokens at or past each row's limit to -inf. tok0: first token of the slice.
__device__ __forceinline__ void mask_scores(float (&s)[2][4], int tok0, int lim0, int lim1) {
  const int t = threadIdx.x & 3;
#pragma unroll
  for (int n = 0; n < 2; ++n) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int tok = tok0 + n * 8 + 2 * t + (c & 1);
      if (tok >= ((c >> 1) ? lim1 : lim0)) s[n][c] = -INFINITY;
    }
  }
}

}  // namespace lrkv::cuda::dev
