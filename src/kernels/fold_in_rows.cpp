#include "nmf/kernels/fold_in_rows.hpp"

#include <algorithm>
#include <cmath>

#include "nmf/kernels/dense.hpp"

namespace nmf {

namespace {

// The sums of one row's problem from the gram matrix of W = [S_i; 1; y^T] ((k + 2) x n).
struct RowSystem {
  DenseMatrix gram;                  // k x k: G - g g^T / d (with bias) or G
  DenseMatrix rhs;                   // k x 1
  std::vector<double> column_sum;    // g
  double target_sum = 0, scale = 0;  // sum y, d
};

RowSystem row_system(const DenseMatrix& w_gram, index_t k, double count, double lambda, double lambda_bias, bool bias) {
  RowSystem s;
  s.gram.resize(k, k);
  s.rhs.resize(k, 1);
  s.column_sum.resize(static_cast<std::size_t>(k));
  s.target_sum = w_gram(k, k + 1);
  s.scale = count + lambda_bias;
  for (index_t q = 0; q < k; ++q) s.column_sum[static_cast<std::size_t>(q)] = w_gram(q, k);
  for (index_t q = 0; q < k; ++q) {
    const double gq = s.column_sum[static_cast<std::size_t>(q)];
    s.rhs(q, 0) = w_gram(q, k + 1) - (bias ? gq * s.target_sum / s.scale : 0.0);
    for (index_t p = 0; p < k; ++p)
      s.gram(p, q) = w_gram(p, q) - (bias ? s.column_sum[static_cast<std::size_t>(p)] * gq / s.scale : 0.0);
    s.gram(q, q) += lambda * count;
  }
  return s;
}

}  // namespace

FoldInStats fold_in_rows(const FoldInRatings& ratings, const DenseMatrix& columns, double lambda, double lambda_bias,
                         bool bias, DenseMatrix& a_t, std::vector<double>& row_bias) {
  const index_t k = columns.rows(), rows = ratings.rows();
  a_t.resize(k, rows);
  std::fill(a_t.data(), a_t.data() + a_t.size(), 0.0);
  row_bias.assign(static_cast<std::size_t>(rows), 0.0);
  FoldInStats stats;
  DenseMatrix w, w_gram, a(k, 1);
  for (index_t r = 0; r < rows; ++r) {
    const index_t first = ratings.ptr[r], count = ratings.ptr[r + 1] - first;
    if (count == 0) {
      ++stats.empty_rows;
      continue;
    }
    w.resize(k + 2, count);
    for (index_t e = 0; e < count; ++e) {
      std::copy(columns.col(ratings.column[first + e]), columns.col(ratings.column[first + e]) + k, w.col(e));
      w(k, e) = 1.0;
      w(k + 1, e) = ratings.target[first + e];
    }
    gram(w, w_gram);
    RowSystem system = row_system(w_gram, k, static_cast<double>(count), lambda, lambda_bias, bias);
    stats.largest_ridge = std::max(stats.largest_ridge, stabilize_gram(system.gram));
    std::fill(a.data(), a.data() + k, 0.0);
    const NnlsStats row_stats = nnls_block_principal_pivoting(system.gram, system.rhs, a);
    stats.nnls.pivot_rounds = std::max(stats.nnls.pivot_rounds, row_stats.pivot_rounds);
    stats.nnls.factorizations += row_stats.factorizations;
    stats.nnls.unconverged += row_stats.unconverged;
    double b = 0;
    if (bias) {
      double ga = 0;
      for (index_t q = 0; q < k; ++q) ga += system.column_sum[static_cast<std::size_t>(q)] * a(q, 0);
      b = (system.target_sum - ga) / system.scale;
    }
    std::copy(a.data(), a.data() + k, a_t.col(r));
    row_bias[static_cast<std::size_t>(r)] = b;
    for (index_t e = 0; e < count; ++e) {  // the residuals, from the ratings themselves (no cancellation)
      double prediction = b;
      for (index_t q = 0; q < k; ++q) prediction += a(q, 0) * w(q, e);
      const double residual = w(k + 1, e) - prediction;
      stats.squared_error += residual * residual;
    }
  }
  return stats;
}

}  // namespace nmf
