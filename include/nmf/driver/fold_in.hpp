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
#pragma once

#include <mpi.h>

#include "nmf/options.hpp"

namespace nmf {

// Collective over `comm`. A failure the ranks agreed on is thrown as the same CollectiveError on every rank.
void run_fold_in(const Options& options, MPI_Comm comm);

}  // namespace nmf
