// Non-negative least squares with many right-hand sides, by block principal pivoting (Kim & Park, "Fast
// nonnegative matrix factorization: an active-set-like method and comparisons", SIAM J. Sci. Comput.
// 2011). Hand-written: LAPACK has no NNLS, and the grouping of right-hand sides that share a passive set,
// which makes the method fast for the thousands of columns of a factor slice, is specific to it.
#pragma once

#include <vector>

#include "nmf/matrix.hpp"

namespace nmf {

struct NnlsStats {
  int pivot_rounds = 0;        // rounds of exchanges until every column satisfied the KKT conditions
  index_t factorizations = 0;  // Cholesky factorizations of passive-set blocks (one per group per round)
  index_t unconverged = 0;     // columns that hit the round limit and were projected onto x >= 0
};

// Solves, for every column j independently,
//   minimize  1/2 x^T G x - c_j^T x   subject to  x >= 0,
// that is  min ||M x - b_j||  with G = M^T M and c_j = M^T b_j, given only G (k x k, symmetric positive
// definite: stabilize it first) and C (k x count). On entry `x` holds a starting point (k x count); its
// positive entries seed the passive sets, which is what makes warm starts in alternating NNLS cheap. On
// return x holds the solution: x >= 0, y = G x - C >= 0 and x .* y = 0 up to round-off.
NnlsStats nnls_block_principal_pivoting(const DenseMatrix& gram, const DenseMatrix& rhs, DenseMatrix& x);

// Scratch space of nnls_one_right_hand_side, kept between calls so that thousands of small solves allocate nothing.
struct NnlsWorkspace {
  std::vector<int> passive, active;
  std::vector<char> in_passive;
  std::vector<double> block, solution, y;
};

// The same problem for one right-hand side c (k values) and x (k values, warm start in, solution out), for callers
// whose every column has its own Gram matrix (the recommender mode's ALS: one k x k system per row). The same
// block principal pivoting with the same backup rule and tolerance as above, without the grouping of columns by
// passive set, which one column does not need.
NnlsStats nnls_one_right_hand_side(const DenseMatrix& gram, const double* c, double* x, NnlsWorkspace& work);

// The same method as first written, the reference the tests hold the one above to: every round checks every
// column, and every passive-set block goes through LAPACK (dpotrf, dpotrs, dgemm).
namespace reference {
NnlsStats nnls_block_principal_pivoting(const DenseMatrix& gram, const DenseMatrix& rhs, DenseMatrix& x);
}  // namespace reference

// The projected gradient of the same problem at x (Lin 2007): g = G x - rhs, kept where x > 0 and
// limited to min(g, 0) where x = 0. Adds the sum of squares of row q of it to row_sums[q] (k entries), so
// a caller can rescale rows before adding them up.
void add_projected_gradient_row_norms(const DenseMatrix& gram, const DenseMatrix& rhs, const DenseMatrix& x,
                                      std::vector<double>& row_sums);

}  // namespace nmf
