// Local kernels of the recommender mode, whose loss covers the observed entries only: a rank's block of
// training ratings with one residual per rating, and the sums coordinate descent (CCD++, Yu, Hsieh, Si and
// Dhillon 2012) and the biases are made of. No MPI: the driver (nmf/driver/ratings_factorization.hpp) reduces
// the sums over the ranks that share a row or column block.
//
// Factor blocks here are feature-major, n x k column-major (column f holds feature f of every row of the
// block): CCD++ sweeps one feature at a time, so feature f's n values are contiguous.
#pragma once

#include <cstdint>
#include <vector>

#include "nmf/kernels/nnls.hpp"
#include "nmf/matrix.hpp"

namespace nmf {

struct ObservedBlock {
  index_t rows = 0, cols = 0;       // the block's shape (block-local indices)
  CompressedMatrix csr;             // the training ratings, by row
  std::vector<index_t> csc_ptr{0};  // the same ratings by column: column j's entries are
  std::vector<index_t> csc_row;     //   csc_row[csc_ptr[j] .. csc_ptr[j+1])
  std::vector<index_t> csc_to_csr;  //   and their positions in csr (so one residual array serves both)
  std::vector<double> residual;     // x_ij - prediction_ij per rating, in CSR order
  index_t entries() const { return csr.nnz(); }
};

// Builds the block from its CSR (residual set to the ratings themselves).
ObservedBlock make_observed_block(CompressedMatrix csr);

// Ratings per row (out: rows values) and per column (out: cols values) of the block.
void count_ratings(const ObservedBlock& block, std::vector<double>& per_row, std::vector<double>& per_col);

// r_ij += sign * a_i s_j on every rating (a: rows values, s: cols values): adds or removes one feature.
void add_rank_one(ObservedBlock& block, const double* a, const double* s, double sign);

// r_ij += a_add_i s_add_j - a_sub_i s_sub_j in one pass: feature f's term taken out of the residual and
// feature f+1's put back (CCD++ moves from one feature to the next this way).
void replace_rank_one(ObservedBlock& block, const double* a_sub, const double* s_sub, const double* a_add,
                      const double* s_add);

// The two sums of a CCD++ coordinate for every column j: numerator[j] = sum_i r_ij a_i and
// denominator[j] = sum_i a_i^2 over the ratings of column j (both cols values, overwritten).
void column_sums(const ObservedBlock& block, const double* a, double* numerator, double* denominator);

// The same for every row i: sum_j r_ij s_j and sum_j s_j^2 over the ratings of row i (rows values).
void row_sums(const ObservedBlock& block, const double* s, double* numerator, double* denominator);

// The non-negative coordinate minimiser, out[t] = max(0, numerator[t] / (lambda * counts[t] + denominator[t])),
// and 0 where that denominator is 0 (a row or column without training ratings: a cold start, never 0/0).
void nonnegative_coordinate(const double* numerator, const double* denominator, const double* counts, double lambda,
                            index_t length, double* out);

// Residual sums per row (rows values) and per column (cols values).
void row_residual_sums(const ObservedBlock& block, double* sums);
void column_residual_sums(const ObservedBlock& block, double* sums);

// r_ij -= row_shift[i] (rows values) or col_shift[j] (cols values): after a bias moved by that much.
void shift_rows(ObservedBlock& block, const double* row_shift);
void shift_columns(ObservedBlock& block, const double* col_shift);

// Sums of the training error of the predictions clipped to [low, high]: squared, absolute (the ratings are
// csr.values, the unclipped predictions csr.values - residual).
struct ErrorSums {
  double squared = 0, absolute = 0, count = 0;
};
ErrorSums clipped_training_errors(const ObservedBlock& block, double low, double high);

// Sum of squared residuals (unclipped: the loss CCD++ minimises).
double residual_squares(const ObservedBlock& block);

// r_ij = x_ij - mu - b_i - c_j - a_i . s_j on every rating (a_rowblock: rows x k, s_colblock: cols x k,
// feature-major): the residuals recomputed from the model after a solver replaced whole factor rows.
void refresh_residuals(ObservedBlock& block, double mu, const double* row_bias, const double* col_bias,
                       const DenseMatrix& a_rowblock, const DenseMatrix& s_colblock);

// Ratings grouped by the factor row they determine (a row of A, or a column of X for a row of S): group g's
// ratings are ptr[g] .. ptr[g+1] - 1, each with the index of the other factor's row it touches and its value.
struct GroupedRatings {
  std::vector<index_t> ptr{0};
  std::vector<index_t> other;
  std::vector<double> value;
  index_t groups() const { return static_cast<index_t>(ptr.size()) - 1; }
};

// ALS on observed entries, one exact non-negative solve per group g:
//   minimize  sum over g's ratings e of (value_e - mu - own_bias[g] - other_bias_e - f . o_e)^2
//             + lambda counts[g] |f|^2   subject to f >= 0,
// with o_e and other_bias_e read from `others` (k + 1 values per other row: its k features, then its bias). The
// normal equations G = O_g^T O_g + lambda counts[g] I, c = O_g^T y are formed from the group's own ratings only
// (k x k per group, never stored beyond the group), then solved by block principal pivoting
// (nnls_one_right_hand_side) warm-started from out's column g. out: k x groups. A group without ratings
// gets f = 0; a group of one rating (others' rows are >= 0) is solved in closed form. Returns the summed statistics
// of the solves.
NnlsStats solve_observed_groups(const GroupedRatings& ratings, const std::vector<double>& others, index_t k, double mu,
                                const double* own_bias, const double* counts, double lambda, DenseMatrix& out);

// Projected Kaczmarz steps on `count` ratings in the order given: rating t has value values[t] and touches the
// factor row rows[t] of `a` and the row cols[t] of `s`, each row k + 1 contiguous values (its k features, then its
// bias). For the error e = x_ij - mu - b_i - c_j - a_i . s_j, a step moving f with o fixed is
//   f <- max(0, f + relaxation (e o - lambda f) / (|o|^2 + lambda)),
// the Kaczmarz projection onto the rating's hyperplane (step 1 / |o|^2) with the rating's share lambda |f|^2 of the
// weighted ridge (lambda n_i |a_i|^2 is lambda |a_i|^2 per rating of row i). Each rating moves s_j (o = a_i), then
// a_i (o = s_j) from the error after that move. The biases are read, never moved.
void observed_kaczmarz_pass(const index_t* rows, const index_t* cols, const double* values, index_t count, index_t k,
                            double mu, double* a, double* s, double lambda, double relaxation);

// The prediction mu + b + c + a . s (a and s: k values each, with strides) clipped to [low, high].
double predict_rating(double mu, double b, double c, const double* a, index_t a_stride, const double* s,
                      index_t s_stride, index_t k, double low, double high);

}  // namespace nmf
