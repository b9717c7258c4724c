// Who owns what. Grid rank (i, j) owns block X_ij = X(row block i, column block j). A (n x k) is split
// by rows over all P ranks and S (k x m) by columns: rank (i, j) owns A slice i*pc + j, a run of rows
// inside row block i, and S slice j*pr + i, a run of columns inside column block j. So the row block
// of A that X_ij needs is the concatenation of the slices of grid row i, in grid-column order, and the
// column block of S is the concatenation of the slices of grid column j, in grid-row order.
#pragma once

#include "nmf/distribution/grid.hpp"
#include "nmf/partition.hpp"

namespace nmf {

struct Layout {
  index_t n = 0;  // rows of X (after --transpose)
  index_t m = 0;  // columns of X
  GridShape shape;
  BlockPartition row_blocks;  // pr parts of [0, n)
  BlockPartition col_blocks;  // pc parts of [0, m)
  BlockPartition a_slices;    // P parts of [0, n), slice index i*pc + j
  BlockPartition s_slices;    // P parts of [0, m), slice index j*pr + i

  // Builds the factor slices from the blocks: each row block is split evenly among the pc ranks of its
  // grid row, each column block among the pr ranks of its grid column.
  Layout(index_t n_, index_t m_, GridShape shape_, BlockPartition row_blocks_, BlockPartition col_blocks_);
  Layout() = default;

  int a_slice_of(int grid_row, int grid_col) const { return grid_row * shape.cols + grid_col; }
  int s_slice_of(int grid_row, int grid_col) const { return grid_col * shape.rows + grid_row; }
  // Grid rank owning X(row, col).
  int owner_of_entry(index_t row, index_t col) const {
    return row_blocks.owner(row) * shape.cols + col_blocks.owner(col);
  }
};

}  // namespace nmf
