// Orthonormal Walsh-Hadamard rotation of latent spaces (Palu step 7): folded offline into a
// group's down/up factors so that quantisation sees rotated latents with outliers spread out,
// while every unquantised result is unchanged (B A = (B H)(Hᵀ A)).
//
// H_n for any n >= 1: n = 2^m: Sylvester, H[i][j] = (-1)^popcount(i & j) / sqrt(n).
// Otherwise block diagonal over the binary expansion of n, largest block first:
//   n = 2^m1 + 2^m2 + ... (m1 > m2 > ...),  H_n = diag(H_2^m1, H_2^m2, ...)
// e.g. 96 = 64 + 32, 100 = 64 + 32 + 4. Every block is symmetric and orthonormal, so H_n is too
// (Hᵀ = H, H H = I). A block of size 1 is the identity: odd sizes leave their last coordinate
// unrotated (ranks are multiples of 32 in practice, where at most two blocks appear).
// Cost of one transform: O(n log n) adds; thread-safe, in place.
#pragma once

#include <cstdint>
#include <vector>

namespace lrkv {

// Block sizes of H_n, largest first (sum = n).
std::vector<int64_t> hadamard_blocks(int64_t n);

// x <- H_n x (= xᵀ H_n, H symmetric) for one vector of n contiguous floats (fast transform).
void hadamard_transform(float* x, int64_t n);

// m[i, :] <- m[i, :] H_n for each of `rows` rows of n columns, row stride ld (right multiply).
void hadamard_rotate_rows(float* m, int64_t rows, int64_t n, int64_t ld);
// m[:, j] <- H_n m[:, j] for each of `cols` columns of an [n, cols] block, row stride ld.
void hadamard_rotate_cols(float* m, int64_t n, int64_t cols, int64_t ld);

// Folds H_r into one group's factors of rank r so their product is unchanged:
//   down [r, d] (row stride ld_down)   <- Hᵀ down      (latents become Hᵀ c)
//   down_bias [r] (or null)            <- Hᵀ bias
//   up [up_rows, r] (row stride ld_up) <- up H         (rebuild / value up-projection, or the
//                                                       absorbed key basis P <- P H)
// Pass down = null when the down projection is implicit (absorbed keys: c = Pᵀ k).
void fold_hadamard(float* down, int64_t ld_down, int64_t r, int64_t d, float* down_bias, float* up,
                   int64_t ld_up, int64_t up_rows);

namespace ref {
// The dense H_n from the definition, fp64, row-major [n, n].
std::vector<double> hadamard_matrix(int64_t n);
}  // namespace ref

}  // namespace lrkv
