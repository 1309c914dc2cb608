// The Cayley map, MatryoshkaKV's orthogonal parameterisation (METHODS.md 4.3):
//   C(A) = (I − A/2)⁻¹ (I + A/2),   A [n, n] skew-symmetric (Aᵀ = −A)
// maps every skew matrix to a rotation (orthogonal, det = +1); C(0) = I. A projection is stored
// as U = U0 · C(A) with U0 the PCA initialisation, so U stays orthogonal whatever A the
// optimiser produces. (I − A/2) is always invertible: A's eigenvalues are imaginary.
// Gradient: with M = (I − A/2)⁻¹ and G = dL/dC,  dC = M (dA/2) (C + I), hence
//   dL/dA = skew(Mᵀ G (C + I)ᵀ / 2),   skew(X) = (X − Xᵀ)/2,
// the gradient within the skew-symmetric matrices (Mᵀ G is a solve with I + A/2 = (I − A/2)ᵀ).
// fp64, O(n³) per call (LAPACKE dgesv); thread-safe (no shared state).
#pragma once

#include "compress/linalg.h"

namespace lrkv {

// C(A). `A` must be square; its skew symmetry is the caller's contract (not checked).
Result<Mat> cayley(const Mat& A);

// dL/dA (skew) from G = dL/dC at A; `C` = cayley(A) (passed in to avoid recomputing it).
Result<Mat> cayley_backward(const Mat& A, const Mat& C, const Mat& G);

// skew(X) = (X − Xᵀ)/2.
Mat skew_part(const Mat& X);

// max |(UᵀU − I)_ij|: orthogonality error of a square matrix.
double orthogonality_error(const Mat& U);

// Determinant of a square matrix (LU); used to fix PCA bases to det = +1.
Result<double> determinant(const Mat& A);

}  // namespace lrkv
