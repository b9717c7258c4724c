// The recommender fold-in kernel (nmf/kernels/fold_in_rows.hpp) against an independent solution of each row's
// problem: every choice of the factors left free (the rest held at 0) is solved as an unconstrained least-squares
// problem with the bias, and the best feasible one (all free factors >= 0) is the optimum of the convex problem.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "nmf/kernels/fold_in_rows.hpp"

namespace nmf {
namespace {

constexpr index_t kRank = 3;

struct Row {
  std::vector<index_t> cols;
  std::vector<double> y;
};

// Solves the small symmetric system m z = v by Gaussian elimination with partial pivoting (m: n x n, row-major).
std::vector<double> solve(std::vector<double> m, std::vector<double> v) {
  const std::size_t n = v.size();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(m[r * n + c]) > std::abs(m[pivot * n + c])) pivot = r;
    for (std::size_t q = 0; q < n; ++q) std::swap(m[c * n + q], m[pivot * n + q]);
    std::swap(v[c], v[pivot]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = m[r * n + c] / m[c * n + c];
      for (std::size_t q = c; q < n; ++q) m[r * n + q] -= f * m[c * n + q];
      v[r] -= f * v[c];
    }
  }
  std::vector<double> z(n);
  for (std::size_t c = n; c-- > 0;) {
    double sum = v[c];
    for (std::size_t q = c + 1; q < n; ++q) sum -= m[c * n + q] * z[q];
    z[c] = sum / m[c * n + c];
  }
  return z;
}

// The objective of (a, b) for one row.
double objective(const Row& row, const DenseMatrix& s, const std::vector<double>& a, double b, double lambda,
                 double lambda_bias) {
  double sum = 0, norm = 0;
  for (std::size_t e = 0; e < row.cols.size(); ++e) {
    double prediction = b;
    for (index_t q = 0; q < kRank; ++q) prediction += a[static_cast<std::size_t>(q)] * s(q, row.cols[e]);
    sum += (row.y[e] - prediction) * (row.y[e] - prediction);
  }
  for (double v : a) norm += v * v;
  return sum + lambda * static_cast<double>(row.cols.size()) * norm + lambda_bias * b * b;
}

// The optimum by enumerating the free sets: for each, the normal equations in (a_free, b).
std::vector<double> brute_force(const Row& row, const DenseMatrix& s, double lambda, double lambda_bias, bool bias) {
  std::vector<double> best(kRank + 1, 0.0);
  double best_value = std::numeric_limits<double>::infinity();
  const double n = static_cast<double>(row.cols.size());
  for (int set = 0; set < (1 << kRank); ++set) {
    std::vector<index_t> free;
    for (index_t q = 0; q < kRank; ++q)
      if (set & (1 << q)) free.push_back(q);
    const std::size_t unknowns = free.size() + (bias ? 1 : 0);
    if (unknowns == 0) continue;
    // The design row of rating e: s(free, j_e), then 1 for the bias.
    const auto design = [&](std::size_t e, std::size_t u) { return u < free.size() ? s(free[u], row.cols[e]) : 1.0; };
    std::vector<double> m(unknowns * unknowns, 0.0), v(unknowns, 0.0);
    for (std::size_t e = 0; e < row.cols.size(); ++e)
      for (std::size_t u = 0; u < unknowns; ++u) {
        v[u] += design(e, u) * row.y[e];
        for (std::size_t w = 0; w < unknowns; ++w) m[u * unknowns + w] += design(e, u) * design(e, w);
      }
    for (std::size_t u = 0; u < free.size(); ++u) m[u * unknowns + u] += lambda * n;
    if (bias) m[unknowns * unknowns - 1] += lambda_bias;
    const std::vector<double> z = solve(m, v);
    std::vector<double> a(kRank, 0.0);
    bool feasible = true;
    for (std::size_t u = 0; u < free.size(); ++u) {
      a[static_cast<std::size_t>(free[u])] = z[u];
      feasible = feasible && z[u] >= 0;
    }
    const double b = bias ? z.back() : 0.0;
    const double value = objective(row, s, a, b, lambda, lambda_bias);
    if (feasible && value < best_value) {
      best_value = value;
      best.assign(a.begin(), a.end());
      best.push_back(b);
    }
  }
  return best;
}

TEST(FoldInRows, EachRowIsTheOptimumOfItsBoundedProblem) {
  std::mt19937_64 generator(17);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const index_t columns = 9;
  DenseMatrix s(kRank, columns);
  for (index_t j = 0; j < columns; ++j)
    for (index_t q = 0; q < kRank; ++q) s(q, j) = unit(generator);
  // Rows of 0, 1, 2, 5 and 9 ratings; targets around 0 so that some factors are held at 0.
  std::vector<Row> rows;
  for (const index_t count : {5, 0, 1, 9, 2, 9, 5}) {
    Row row;
    for (index_t e = 0; e < count; ++e) {
      row.cols.push_back((e * 4 + static_cast<index_t>(rows.size())) % columns);
      row.y.push_back(3.0 * unit(generator) - 1.5);
    }
    rows.push_back(row);
  }
  FoldInRatings ratings;
  for (const Row& row : rows) {
    ratings.column.insert(ratings.column.end(), row.cols.begin(), row.cols.end());
    ratings.target.insert(ratings.target.end(), row.y.begin(), row.y.end());
    ratings.ptr.push_back(static_cast<index_t>(ratings.column.size()));
  }
  int held_at_zero = 0;
  for (const bool bias : {true, false}) {
    for (const auto& [lambda, lambda_bias] : {std::pair{0.1, 2.0}, std::pair{0.0, 0.0}, std::pair{0.5, 5.0}}) {
      SCOPED_TRACE(std::string(bias ? "bias" : "no bias") + " lambda " + std::to_string(lambda));
      DenseMatrix a_t;
      std::vector<double> b;
      const FoldInStats stats = fold_in_rows(ratings, s, lambda, lambda_bias, bias, a_t, b);
      ASSERT_EQ(a_t.rows(), kRank);
      ASSERT_EQ(a_t.cols(), static_cast<index_t>(rows.size()));
      EXPECT_EQ(stats.empty_rows, 1);
      double squared_error = 0;
      for (std::size_t r = 0; r < rows.size(); ++r) {
        if (rows[r].cols.empty() || (lambda == 0 && rows[r].cols.size() <= kRank)) {  // cold, or not unique
          if (rows[r].cols.empty()) {
            for (index_t q = 0; q < kRank; ++q) EXPECT_EQ(a_t(q, static_cast<index_t>(r)), 0.0);
            EXPECT_EQ(b[r], 0.0);
          }
          continue;
        }
        const std::vector<double> expected = brute_force(rows[r], s, lambda, lambda_bias, bias);
        std::vector<double> a(kRank);
        for (index_t q = 0; q < kRank; ++q) {
          a[static_cast<std::size_t>(q)] = a_t(q, static_cast<index_t>(r));
          EXPECT_GE(a[static_cast<std::size_t>(q)], 0.0);
          EXPECT_NEAR(a[static_cast<std::size_t>(q)], expected[static_cast<std::size_t>(q)], 1e-10)
              << "row " << r << " factor " << q;
          held_at_zero += expected[static_cast<std::size_t>(q)] == 0.0;
        }
        EXPECT_NEAR(b[r], expected[kRank], 1e-10) << "row " << r;
        if (!bias) EXPECT_EQ(b[r], 0.0);
        squared_error += objective(rows[r], s, a, b[r], 0.0, 0.0);
      }
      if (lambda > 0) EXPECT_NEAR(stats.squared_error, squared_error, 1e-10 * std::max(1.0, squared_error));
    }
  }
  EXPECT_GT(held_at_zero, 3);  // the bounds were active: not a plain least-squares test
}

}  // namespace
}  // namespace nmf
