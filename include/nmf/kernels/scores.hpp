// Predicted scores of a block of rows against a block of columns, for top-N lists (nmf/driver/top_n.hpp).
#pragma once

#include <vector>

#include "nmf/matrix.hpp"

namespace nmf {

// scores (rows x cols, row-major: row r starts at r * cols) = the dot products of columns first .. first+rows-1
// of a_t (k x n, one row of A per column) with the cols columns of S, given S transposed as s_rows (cols x k,
// column-major: factor c of every column contiguous, at c * cols).
//
// Each score is summed over c = 0, 1, ..., k-1 in that order, starting from 0, whatever the tile or the
// instruction set, so it depends only on the row of A and the column of S, bit for bit: top-N lists must not
// change with where a row or column falls in a block (ties are exact ties on any grid). BLAS promises no such
// thing (its kernels block and reorder the sums), which is why this loop is ours. Four rows share each load of
// S, and a tile of 256 columns of their scores stays in L1.
void score_block_rows(const DenseMatrix& a_t, index_t first, index_t rows, const std::vector<double>& s_rows,
                      index_t cols, std::vector<double>& scores);

}  // namespace nmf
