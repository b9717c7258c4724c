// The process grid: P ranks as a pr x pc Cartesian grid, built from any communicator (never
// MPI_COMM_WORLD by assumption, never calling MPI_Init), with named row and column communicators.
#pragma once

#include <string>

#include "nmf/mpi.hpp"
#include "nmf/types.hpp"

namespace nmf {

struct GridShape {
  int rows = 1;  // pr: number of row blocks of X
  int cols = 1;  // pc: number of column blocks of X
  int size() const { return rows * cols; }
  std::string str() const { return std::to_string(rows) + "x" + std::to_string(cols); }
};

// Parses "PRxPC" (for example "4x2"). Throws UsageError on anything else.
GridShape parse_grid_shape(const std::string& text);

// Words (doubles) all ranks together move per alternating iteration on a pr x pc grid: the all-gathers
// of A within grid rows and of S within grid columns, the matching reduce-scatters, and the two k x k
// all-reduces (the MPI-FAUN cost model of Kannan, Ballard and Park, with bandwidth-optimal collectives).
double words_per_iteration(GridShape shape, index_t n, index_t m, int k);

// The grid of `ranks` ranks that moves the fewest words per iteration for an n x m matrix, among those
// with at most n row blocks and m column blocks. Depends only on the shape: the factor traffic does not
// depend on the sparsity, and blocks are balanced by nonzeros. Throws UsageError if no grid fits.
GridShape choose_grid_shape(int ranks, index_t n, index_t m);

// Throws UsageError if `shape` does not use exactly `ranks` ranks or has more blocks than rows/columns.
void validate_grid_shape(GridShape shape, int ranks, index_t n, index_t m);

class ProcessGrid {
 public:
  // Collective over `comm`. comm's size must equal shape.size().
  ProcessGrid(MPI_Comm comm, GridShape shape);

  // All ranks of the grid; grid rank = row * pc + col.
  MPI_Comm comm() const { return grid_comm_.get(); }
  // The pc ranks of this rank's grid row (same row block of X and of A), ordered by grid column.
  MPI_Comm row_comm() const { return row_comm_.get(); }
  // The pr ranks of this rank's grid column (same column block of X and of S), ordered by grid row.
  MPI_Comm col_comm() const { return col_comm_.get(); }
  // All ranks, ordered by the index of their slice of S (col * pr + row): the order S is stored in.
  MPI_Comm s_order_comm() const { return s_order_comm_.get(); }

  GridShape shape() const { return shape_; }
  int rank() const { return rank_; }
  int size() const { return shape_.size(); }
  int row() const { return row_; }
  int col() const { return col_; }

 private:
  GridShape shape_;
  Comm grid_comm_, row_comm_, col_comm_, s_order_comm_;
  int rank_ = 0, row_ = 0, col_ = 0;
};

}  // namespace nmf
