// Fold-in without refitting (--fixed-S): the rows of a new input get their A by exact non-negative least
// squares against the fixed S of an earlier fit, one pass and no alternation, as scikit-learn's NMF.transform
// does: for every row i, a_i = argmin_{a >= 0} ||x_i - a S||. S is read distributed (each rank only a run of
// its columns) and never held whole.
//
// The columns of the input must be the columns of the fit. For ratings input they are matched by id through
// the fit's column id map (PREFIX_cols.txt): items of the input not in the fit are ignored (with a warning
// counting them and their ratings), items of the fit the input does not mention are zero columns of the new
// X, as plain NMF treats every unobserved entry. For Matrix Market and .npy input the column counts must agree.
//
// Outputs, committed as a set: PREFIX_A (n x k), PREFIX_rows.txt (ratings input) and the summary, whose
// relative_error is ||X - A S||_F / ||X||_F over the new input as matched (ignored ratings left out).
//
// Against a recommender fit (its column biases found: --fixed-bias-cols, or PREFIX_bias_cols.mtx beside
// PREFIX_S when it exists and --missing is not zero; --missing unobserved requires them) the fold-in solves that
// fit's loss instead, over each new row's observed ratings only: a_i >= 0 and the row bias b_i (any sign),
//   min  sum over the row's ratings j on the fit's columns of (x_ij - mu - b_i - c_j - a_i . s_j)^2
//        + lambda n_i |a_i|^2 + lambda_bias b_i^2
// with S, the column biases c and the global mean mu (the bias file's header) fixed, lambda, lambda_bias and
// --bias from the options (a warning when the fit's summary records others), exactly (nmf/kernels/fold_in_rows.hpp).
// Rows are spread over a P x 1 grid, so each rank solves whole rows; it fetches only the columns of S and c its
// rows touch (k + 1 numbers each) from the ranks holding them. A row without a rating on the fit's columns gets
// a = 0 and b = 0, as the fit's cold starts. It writes PREFIX_bias_rows.mtx beside A, and the summary's
// "recommender" (mean, lambda, lambda_bias, bias, bias_cols, ratings, cold_rows, rmse) replaces relative_error.
#pragma once

#include <mpi.h>

#include "nmf/options.hpp"

namespace nmf {

// Collective over `comm`. A failure the ranks agreed on is thrown as the same CollectiveError on every rank.
void run_fold_in(const Options& options, MPI_Comm comm);

}  // namespace nmf
