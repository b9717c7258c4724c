// Fold-in of new rows into a fixed recommender model (nmf/driver/fold_in.hpp, the recommender mode): for each
// new row i, with S, the column biases c and the global mean mu fixed, the row's factors a_i >= 0 and its bias
// b_i (any sign) minimise the fit's loss restricted to the row's observed ratings,
//   sum over the row's ratings j of (y_ij - b_i - a_i . s_j)^2 + lambda n_i |a_i|^2 + lambda_bias b_i^2,
// with y_ij = x_ij - mu - c_j and n_i the row's number of ratings (the weighted lambda of ALS-WR). No MPI: the
// driver fetches the columns of S a rank's rows touch and hands them in here.
#pragma once

#include <vector>

#include "nmf/kernels/nnls.hpp"
#include "nmf/matrix.hpp"

namespace nmf {

// A block of new rows: row r's ratings are ptr[r] .. ptr[r+1] - 1, each with the index of its fixed column
// (into the k x T matrix of fetched columns) and its target y = x - mu - c_j.
struct FoldInRatings {
  std::vector<index_t> ptr{0};
  std::vector<index_t> column;
  std::vector<double> target;
  index_t rows() const { return static_cast<index_t>(ptr.size()) - 1; }
};

struct FoldInStats {
  NnlsStats nnls;            // summed over the rows (pivot_rounds: the most any row took)
  double squared_error = 0;  // sum of (y - b - a . s)^2 over every rating: the unclipped training error
  double largest_ridge = 0;  // the largest ridge stabilize_gram added to a row's system (0: none needed)
  index_t empty_rows = 0;    // rows without ratings: a = 0, b = 0 (a cold start, never 0/0)
};

// Solves every row of `ratings` exactly: a_t (k x rows, column r = a_r) and row_bias (rows values) are
// overwritten. With `bias` false, b = 0 and only a is solved. Each row's problem is reduced to one over a by
// eliminating the free b (its optimum for a given a is (sum y - a . sum s) / (n + lambda_bias)), which leaves
// the NNLS
//   min over a >= 0 of a^T (G - g g^T / d) a / 2 - (r - g sum y / d)^T a,   G = S_i S_i^T + lambda n I,
//   g = S_i 1, r = S_i y, d = n + lambda_bias,
// solved by block principal pivoting (nnls_block_principal_pivoting). The sums come from one dsyrk of the
// (k + 2) x n matrix [S_i; 1; y^T]. Each row depends only on its own ratings, in their given order: the result
// does not depend on how rows are spread over ranks.
FoldInStats fold_in_rows(const FoldInRatings& ratings, const DenseMatrix& columns, double lambda, double lambda_bias,
                         bool bias, DenseMatrix& a_t, std::vector<double>& row_bias);

}  // namespace nmf
