// X times a tall matrix held in a factor slice layout: the driver's two distributed products (the same local
// kernels and the same gathers and reduce-scatters, nmf/driver/factorization.hpp), with any l x (length)
// matrix in the place of a factor. A randomized SVD sketches X with them, the QR least-squares route forms
// Q^T X with them.
#pragma once

#include <vector>

#include "nmf/distribution/collectives.hpp"
#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/kernels/products.hpp"

namespace nmf {

class SliceProducts {
 public:
  // x and grid must outlive this object; `rows` is l, the rows of the matrices multiplied.
  SliceProducts(const ProcessGrid& grid, const DistMatrix& x, index_t rows);

  // (X W)^T for this rank's A slice (l x rows of the slice), from W^T in the S slice layout (l x columns of
  // this rank's S slice): what the driver's S X^T product makes with W^T in the place of S. Collective.
  DenseMatrix x_times(const DenseMatrix& w_t_s_slice);
  // The same into `out`, whose storage is reused when it is large enough (no new memory to touch: repeated
  // products of one shape allocate nothing, here or in the scratch matrices this object keeps).
  void x_times(const DenseMatrix& w_t_s_slice, DenseMatrix& out);

  // Q^T X for this rank's S slice (l x columns of the slice), from Q^T in the A slice layout: what the
  // driver's A^T X product makes with Q in the place of A. Collective.
  DenseMatrix transposed_times_x(const DenseMatrix& q_t_a_slice);
  void transposed_times_x(const DenseMatrix& q_t_a_slice, DenseMatrix& out);

 private:
  const ProcessGrid& grid_;
  const LocalProducts products_;
  std::vector<index_t> a_counts_in_row_, s_counts_in_col_;
  FactorCollectives collectives_;
  // Kept between calls (see x_times): a column block of S's shape (x_times gathers into it, transposed_times_x
  // sums into it) and a row block of A's shape (the other way round). On a grid of one column or one row only
  // one of them is used, by both products.
  DenseMatrix s_block_, a_block_;
};

}  // namespace nmf
