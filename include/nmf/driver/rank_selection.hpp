// Choosing k from cross-validation scores.
#pragma once

#include <string>
#include <vector>

namespace nmf {

// One k's cross-validation result: mean and sample standard deviation over the folds of the best restart's
// training and held-out relative errors.
struct RankScore {
  int k = 0;
  int folds = 0;  // folds with at least one successful fit
  double train_error = 0, train_std = 0, heldout_error = 0, heldout_std = 0;
};

// The mean and the sample standard deviation (0 for fewer than two values) of the fold errors.
RankScore score_rank(int k, const std::vector<double>& train_errors, const std::vector<double>& heldout_errors);

// Rule "se": the smallest k whose mean held-out error is within one standard error (std / sqrt(folds)) of the
// minimum; rule "min": the minimum. `scores` sorted by k; scores without folds are ignored. Returns 0 when no
// score has a fold.
int choose_rank(const std::vector<RankScore>& scores, const std::string& rule);

}  // namespace nmf
