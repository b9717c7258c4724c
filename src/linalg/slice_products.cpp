#include "nmf/linalg/slice_products.hpp"

namespace nmf {

SliceProducts::SliceProducts(const ProcessGrid& grid, const DistMatrix& x, index_t rows)
    : grid_(grid), products_(x.block, rows) {
  const Layout& layout = x.layout;
  for (int j = 0; j < grid.shape().cols; ++j)
    a_counts_in_row_.push_back(layout.a_slices.size(layout.a_slice_of(grid.row(), j)));
  for (int i = 0; i < grid.shape().rows; ++i)
    s_counts_in_col_.push_back(layout.s_slices.size(layout.s_slice_of(i, grid.col())));
}

DenseMatrix SliceProducts::x_times(const DenseMatrix& w_t_s_slice) {
  DenseMatrix out;
  x_times(w_t_s_slice, out);
  return out;
}

DenseMatrix SliceProducts::transposed_times_x(const DenseMatrix& q_t_a_slice) {
  DenseMatrix out;
  transposed_times_x(q_t_a_slice, out);
  return out;
}

// As the driver's S X^T: gather the column block over the grid column, multiply locally, reduce-scatter over
// the grid row to the A slices. On a grid column or row of one rank the gather or the reduce-scatter is no
// more than a copy, and is left out: the product reads the slice itself, or writes `out` directly.
void SliceProducts::x_times(const DenseMatrix& w_t_s_slice, DenseMatrix& out) {
  const bool gather = s_counts_in_col_.size() > 1, scatter = a_counts_in_row_.size() > 1;
  if (gather) collectives_.allgather(grid_.col_comm(), w_t_s_slice, s_counts_in_col_, s_block_);
  products_.s_xt(gather ? s_block_ : w_t_s_slice, scatter ? a_block_ : out);
  if (scatter) collectives_.reduce_scatter(grid_.row_comm(), a_block_, a_counts_in_row_, out);
}

// As the driver's A^T X: gather the row block over the grid row, multiply locally, reduce-scatter over the grid
// column to the S slices; the same one-rank shortcuts.
void SliceProducts::transposed_times_x(const DenseMatrix& q_t_a_slice, DenseMatrix& out) {
  const bool gather = a_counts_in_row_.size() > 1, scatter = s_counts_in_col_.size() > 1;
  if (gather) collectives_.allgather(grid_.row_comm(), q_t_a_slice, a_counts_in_row_, a_block_);
  products_.at_x(gather ? a_block_ : q_t_a_slice, scatter ? s_block_ : out);
  if (scatter) collectives_.reduce_scatter(grid_.col_comm(), s_block_, s_counts_in_col_, out);
}

}  // namespace nmf
