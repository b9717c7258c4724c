// A BLACS process grid over the same ranks and coordinates as a ProcessGrid, so ScaLAPACK routines
// (distributed factorizations, e.g. for initialization) can run on the data layout's own ranks.
#pragma once

#include "nmf/distribution/grid.hpp"

namespace nmf {

// Owns a BLACS context (released with Cblacs_gridexit). Collective construction over grid.comm().
class BlacsGrid {
 public:
  // The pr x pc grid with the process grid's coordinates.
  explicit BlacsGrid(const ProcessGrid& grid);
  // A `shape` grid over the same ranks in the same (row-major) rank order: BLACS process (r, c) is grid rank
  // r * shape.cols + c. GridShape{P, 1} is the column of processes a tall-skinny factorization wants.
  BlacsGrid(const ProcessGrid& grid, GridShape shape);
  BlacsGrid(const BlacsGrid&) = delete;
  BlacsGrid& operator=(const BlacsGrid&) = delete;
  ~BlacsGrid();

  int context() const { return context_; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int row() const { return row_; }
  int col() const { return col_; }

 private:
  int system_handle_ = -1;
  int context_ = -1;
  int rows_ = 0, cols_ = 0, row_ = -1, col_ = -1;
};

// Number of rows or columns of a block-cyclic distributed dimension owned by one process (ScaLAPACK's
// NUMROC): `extent` split into blocks of `block` over `processes`, this process at `index`.
index_t blacs_local_extent(index_t extent, index_t block, int index, int processes);

}  // namespace nmf
