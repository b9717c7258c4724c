// The two local products every alternating iteration needs, for dense and sparse blocks of X.
// Factors are stored k x (length), so one row of A or one column of S is k contiguous doubles.
#pragma once

#include "nmf/distribution/dist_matrix.hpp"

namespace nmf {

// out (k x X.cols) = At_rowblock (k x X.rows) * X   -- the local part of A^T X.
void multiply_at_x(const DenseMatrix& at_rowblock, const LocalBlock& x, DenseMatrix& out);

// out (k x X.rows) = S_colblock (k x X.cols) * X^T  -- the local part of (X S^T)^T.
void multiply_s_xt(const DenseMatrix& s_colblock, const LocalBlock& x, DenseMatrix& out);

// For a compressed matrix C (rows x cols): out(:, r) = sum over stored (r, c, v) of v * factor(:, c),
// i.e. out = factor * C^T with out k x C.rows. With C = CSR of X this is S X^T; with C = CSC of X it is
// A^T X. A gather: each output column is written once, and the k values read per entry are contiguous.
void multiply_compressed(const DenseMatrix& factor, const CompressedMatrix& c, DenseMatrix& out);

// ||X_ij - At_rowblock^T S_colblock||_F^2 summed directly over every entry of the block, zeros included:
// the product is formed a few columns at a time (a tile of at most about 1 Mi doubles), X is subtracted
// and the tile's squares summed. No cancellation, at the cost of one dense block product; the driver
// uses it only when the relative error is too small for the Gram identity.
double residual_squared(const DenseMatrix& at_rowblock, const DenseMatrix& s_colblock, const LocalBlock& x);

// Straightforward loops over the stored entries, the reference the tests hold the kernels above to.
namespace reference {
void multiply_at_x(const DenseMatrix& at_rowblock, const LocalBlock& x, DenseMatrix& out);
void multiply_s_xt(const DenseMatrix& s_colblock, const LocalBlock& x, DenseMatrix& out);
}  // namespace reference

}  // namespace nmf
