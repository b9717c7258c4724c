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

// As the driver's S X^T: gather the column block over the grid column, multiply locally, reduce-scatter over
// the grid row to the A slices.
DenseMatrix SliceProducts::x_times(const DenseMatrix& w_t_s_slice) {
  DenseMatrix colblock, partial, result;
  collectives_.allgather(grid_.col_comm(), w_t_s_slice, s_counts_in_col_, colblock);
  products_.s_xt(colblock, partial);
  collectives_.reduce_scatter(grid_.row_comm(), partial, a_counts_in_row_, result);
  return result;
}

// As the driver's A^T X: gather the row block over the grid row, multiply locally, reduce-scatter over the grid
// column to the S slices.
DenseMatrix SliceProducts::transposed_times_x(const DenseMatrix& q_t_a_slice) {
  DenseMatrix rowblock, partial, result;
  collectives_.allgather(grid_.row_comm(), q_t_a_slice, a_counts_in_row_, rowblock);
  products_.at_x(rowblock, partial);
  collectives_.reduce_scatter(grid_.col_comm(), partial, s_counts_in_col_, result);
  return result;
}

}  // namespace nmf
