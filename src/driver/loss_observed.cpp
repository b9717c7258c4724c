#include "loss_observed.hpp"

#include <cmath>

namespace nmf::detail {

namespace {

enum Sum : std::size_t {
  train_squared,   // clipped predictions
  train_absolute,  // clipped predictions
  train_count,
  residual_squared,  // unclipped: the loss itself
  ratings_squared,
  penalty,  // lambda and lambda_bias terms
  test_squared,
  test_absolute,
  test_count,
  sum_count
};

double weighted_squares(const DenseMatrix& block, const std::vector<double>& counts, index_t begin, index_t count) {
  double sum = 0;
  for (index_t f = 0; f < block.cols(); ++f)
    for (index_t r = begin; r < begin + count; ++r) sum += counts[r] * block(r, f) * block(r, f);
  return sum;
}

double squares(const std::vector<double>& values, index_t begin, index_t count) {
  double sum = 0;
  for (index_t r = begin; r < begin + count; ++r) sum += values[r] * values[r];
  return sum;
}

}  // namespace

std::size_t observed_sum_count() {
  return sum_count;
}

std::vector<double> observed_local_sums(const ObservedModel& m) {
  std::vector<double> sums(sum_count, 0.0);
  const ErrorSums train = clipped_training_errors(m.train, m.low, m.high);
  sums[train_squared] = train.squared;
  sums[train_absolute] = train.absolute;
  sums[train_count] = train.count;
  sums[residual_squared] = residual_squares(m.train);
  for (double x : m.train.csr.values) sums[ratings_squared] += x * x;
  sums[penalty] = m.lambda * (weighted_squares(m.a_rowblock, m.row_counts, m.a_own_begin, m.a_own_count) +
                              weighted_squares(m.s_colblock, m.col_counts, m.s_own_begin, m.s_own_count)) +
                  m.lambda_bias * (squares(m.row_bias, m.a_own_begin, m.a_own_count) +
                                   squares(m.col_bias, m.s_own_begin, m.s_own_count));
  const index_t k = m.a_rowblock.cols(), n = m.a_rowblock.rows(), cols = m.s_colblock.rows();
  for (const Triplet& t : m.test) {
    const bool row_known = t.row >= 0, col_known = t.col >= 0;
    const double prediction =
        predict_rating(m.mu, row_known ? m.row_bias[t.row] : 0.0, col_known ? m.col_bias[t.col] : 0.0,
                       row_known ? m.a_rowblock.data() + t.row : nullptr, n,
                       col_known ? m.s_colblock.data() + t.col : nullptr, cols, k, m.low, m.high);
    const double error = t.value - prediction;
    sums[test_squared] += error * error;
    sums[test_absolute] += std::abs(error);
  }
  sums[test_count] = static_cast<double>(m.test.size());
  return sums;
}

ObservedLossValue observed_loss(const std::vector<double>& s) {
  ObservedLossValue value;
  value.objective = s[residual_squared] + s[penalty];
  value.relative_error = s[ratings_squared] > 0 ? std::sqrt(s[residual_squared] / s[ratings_squared]) : 0.0;
  value.rmse_train = s[train_count] > 0 ? std::sqrt(s[train_squared] / s[train_count]) : 0.0;
  value.mae_train = s[train_count] > 0 ? s[train_absolute] / s[train_count] : 0.0;
  if (s[test_count] > 0) {
    value.rmse_test = std::sqrt(s[test_squared] / s[test_count]);
    value.mae_test = s[test_absolute] / s[test_count];
  }
  return value;
}

}  // namespace nmf::detail
