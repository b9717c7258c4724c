// The two local products every alternating iteration needs, for dense and sparse blocks of X.
// Factors are stored k x (length), so one row of A or one column of S is k contiguous doubles.
#pragma once

#include <cstdint>
#include <vector>

#include "nmf/local_block.hpp"

namespace nmf {

// How a sparse product walks its factor: the gathered dimension (the columns of C) is cut into panels
// whose slice of the k x cols factor fits in half of a core's L2 cache, and the product makes one pass
// over the rows per panel, so every gather of k values hits L2 instead of going to L3 or memory. The
// entries of each row are sorted by column, so each panel's entries of a row are a contiguous run; the
// plan stores where each run starts (32-bit offsets from the row start).
struct GatherPlan {
  int panels = 1;
  std::vector<std::uint32_t> splits;  // (panels - 1) x rows: start of panel p >= 1 in row r, minus ptr[r]
};

// The plan for gathering a k-row factor through C. One panel when the factor is small, and never so many
// that a pass holds less than about two entries per row (then streaming the output would cost more).
GatherPlan plan_gather(const CompressedMatrix& c, index_t k, index_t cache_bytes = index_t{1} << 20);

// For a compressed matrix C (rows x cols): out(:, r) = sum over stored (r, c, v) of v * factor(:, c),
// i.e. out = factor * C^T with out k x C.rows. With C = CSR of X this is S X^T; with C = CSC of X it is
// A^T X. A gather: the k values read per entry are contiguous, and for k <= 64 the k sums of an output
// column stay in registers.
void multiply_compressed(const DenseMatrix& factor, const CompressedMatrix& c, const GatherPlan& plan,
                         DenseMatrix& out);
void multiply_compressed(const DenseMatrix& factor, const CompressedMatrix& c, DenseMatrix& out);

// The two local products of one block for one k, with the sparse gather plans made once.
class LocalProducts {
 public:
  LocalProducts(const LocalBlock& x, index_t k);
  // out (k x X.cols) = At_rowblock (k x X.rows) * X   -- the local part of A^T X.
  void at_x(const DenseMatrix& at_rowblock, DenseMatrix& out) const;
  // out (k x X.rows) = S_colblock (k x X.cols) * X^T  -- the local part of (X S^T)^T.
  void s_xt(const DenseMatrix& s_colblock, DenseMatrix& out) const;

 private:
  const LocalBlock& x_;
  GatherPlan csr_plan_, csc_plan_;
  mutable DenseMatrix scratch_;  // unused since the dense products write their result directly (dense.hpp)
};

// The same products without a kept plan (tests, one-off use).
void multiply_at_x(const DenseMatrix& at_rowblock, const LocalBlock& x, DenseMatrix& out);
void multiply_s_xt(const DenseMatrix& s_colblock, const LocalBlock& x, DenseMatrix& out);

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
