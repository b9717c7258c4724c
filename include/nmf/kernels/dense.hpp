// Local dense kernels on top of BLAS and LAPACK (OpenBLAS). No MPI here.
#pragma once

#include "nmf/matrix.hpp"

namespace nmf {

// G = F * F^T for F of size k x c (a factor slice stored k x local count); G is k x k, both triangles set.
void gram(const DenseMatrix& factor_t, DenseMatrix& out);

// out (k x m_j) = At (k x n_i) * X for a dense X (n_i x m_j), one dgemm writing `out` directly (repeated
// products of the same shape allocate nothing). `scratch` is no longer used: both products are formed in
// their k x length orientation (see dense.cpp); the parameter stays for the callers.
void multiply(const DenseMatrix& left, const DenseMatrix& x, DenseMatrix& out, DenseMatrix* scratch = nullptr);

// out (k x n_i) = S (k x m_j) * X^T for a dense X (n_i x m_j).
void multiply_transposed(const DenseMatrix& left, const DenseMatrix& x, DenseMatrix& out,
                         DenseMatrix* scratch = nullptr);

// Sum over all entries of a .* b (the Frobenius inner product).
double frobenius_dot(const DenseMatrix& a, const DenseMatrix& b);

// Makes a k x k Gram matrix safe to factor: if it is singular or so ill-conditioned that Cholesky
// solutions would be dominated by round-off (reciprocal condition number below 1e-13, LAPACK dpocon),
// adds the smallest ridge (1e-13, then 100x more per retry, relative to the mean diagonal) that fixes
// it. Returns the ridge added (0 when none was needed). Throws Error for NaN or Inf entries.
// Deterministic, so ranks holding the same replicated Gram matrix take the same decision.
double stabilize_gram(DenseMatrix& gram);

// Solves gram * Y = rhs for Y in place of rhs by Cholesky (LAPACK dpotrf/dpotrs). If gram is not
// numerically positive definite (a zero column in a factor, nearly collinear factors), retries with a
// growing ridge added to its diagonal; returns the ridge used (0 when none was needed). Deterministic, so
// ranks holding the same replicated gram take the same decision.
double cholesky_solve(const DenseMatrix& gram, DenseMatrix& rhs);

// rhs := R^-1 rhs for an upper triangular R (k x k). Returns false, rhs untouched, when R is numerically singular
// (a diagonal entry at most 1e-14 times the largest): the caller then solves another way.
bool upper_triangular_solve(const DenseMatrix& r, DenseMatrix& rhs);

}  // namespace nmf
