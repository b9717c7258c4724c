// Internal to the driver: the recommender mode's loss, over the observed entries only (the third loss, beside
// loss_full.cpp and loss_held_out.cpp; see nmf/driver/ratings_factorization.hpp for the model). It evaluates
// from the residuals the driver keeps on the training ratings and from predictions of the test ratings, as
// local sums that the driver all-reduces once.
#pragma once

#include <vector>

#include "nmf/driver/ratings_factorization.hpp"

namespace nmf::detail {

// What the loss reads on one rank.
struct ObservedModel {
  const ObservedBlock& train;
  const std::vector<Triplet>& test;
  const DenseMatrix& a_rowblock;  // n_I x k
  const DenseMatrix& s_colblock;  // m_J x k
  const std::vector<double>& row_bias;
  const std::vector<double>& col_bias;
  const std::vector<double>& row_counts;
  const std::vector<double>& col_counts;
  double mu, low, high, lambda, lambda_bias;
  // This rank's slices inside the blocks: the penalties count each row and column once, on its slice's owner.
  index_t a_own_begin, a_own_count, s_own_begin, s_own_count;
};

struct ObservedLossValue {
  double objective = 0;       // the penalized loss
  double relative_error = 0;  // sqrt(sum of squared residuals / sum of squared training ratings)
  double rmse_train = 0, mae_train = 0;
  double rmse_test = IterationRecord::unknown, mae_test = IterationRecord::unknown;
};

// Local: the sums evaluate() needs, always observed_sum_count() values.
std::vector<double> observed_local_sums(const ObservedModel& model);
std::size_t observed_sum_count();

// The value from the sums of every rank.
ObservedLossValue observed_loss(const std::vector<double>& summed);

}  // namespace nmf::detail
