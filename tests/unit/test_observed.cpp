// The recommender mode's local kernels (nmf/kernels/observed.hpp) against plain loops over a dense copy of a tiny
// block with a mask: every sum and residual update must agree exactly (the same additions in the same order
// where the kernel's order is fixed, or values exactly representable where it is not).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/nnls.hpp"
#include "nmf/kernels/observed.hpp"

namespace nmf {
namespace {

// A 4 x 5 block: row 2 and column 3 have no ratings (cold starts). Values are dyadic, so sums are exact.
struct Tiny {
  index_t n = 4, m = 5;
  std::vector<std::vector<double>> x{{5, 0, 3, 0, 1}, {0, 2, 0, 0, 4}, {0, 0, 0, 0, 0}, {1, 0.5, 2, 0, 0}};
  std::vector<std::vector<bool>> mask{{true, false, true, false, true},
                                      {false, true, false, false, true},
                                      {false, false, false, false, false},
                                      {true, true, true, false, false}};
  ObservedBlock block() const {
    CompressedMatrix csr;
    csr.rows = n;
    csr.cols = m;
    csr.ptr = {0};
    for (index_t i = 0; i < n; ++i) {
      for (index_t j = 0; j < m; ++j)
        if (mask[i][j]) {
          csr.index.push_back(j);
          csr.values.push_back(x[i][j]);
        }
      csr.ptr.push_back(static_cast<index_t>(csr.index.size()));
    }
    return make_observed_block(std::move(csr));
  }
};

// The residual of (i, j) in the block, found through the CSR.
double residual_at(const ObservedBlock& b, index_t i, index_t j) {
  for (index_t p = b.csr.ptr[i]; p < b.csr.ptr[i + 1]; ++p)
    if (b.csr.index[p] == j) return b.residual[p];
  ADD_FAILURE() << "no rating at " << i << ", " << j;
  return 0;
}

TEST(ObservedKernels, ColumnIndexMapsBackToTheRows) {
  const Tiny t;
  const ObservedBlock b = t.block();
  ASSERT_EQ(b.entries(), 8);
  for (index_t j = 0; j < t.m; ++j) {
    std::vector<index_t> rows;
    for (index_t q = b.csc_ptr[j]; q < b.csc_ptr[j + 1]; ++q) {
      rows.push_back(b.csc_row[q]);
      EXPECT_EQ(b.csr.index[b.csc_to_csr[q]], j);
      EXPECT_EQ(b.csr.values[b.csc_to_csr[q]], t.x[b.csc_row[q]][j]);
    }
    std::vector<index_t> expected;
    for (index_t i = 0; i < t.n; ++i)
      if (t.mask[i][j]) expected.push_back(i);
    EXPECT_EQ(rows, expected) << "column " << j;
  }
  std::vector<double> per_row, per_col;
  count_ratings(b, per_row, per_col);
  EXPECT_EQ(per_row, (std::vector<double>{3, 2, 0, 3}));
  EXPECT_EQ(per_col, (std::vector<double>{2, 2, 2, 0, 2}));
}

TEST(ObservedKernels, SumsAndRankOneUpdatesMatchPlainLoops) {
  const Tiny t;
  ObservedBlock b = t.block();
  const std::vector<double> a{0.5, 2, 1.5, 0.25}, s{1, 0.5, 2, 4, 0.75};
  add_rank_one(b, a.data(), s.data(), -1.0);  // r = x - a s^T
  for (index_t i = 0; i < t.n; ++i)
    for (index_t j = 0; j < t.m; ++j)
      if (t.mask[i][j]) EXPECT_EQ(residual_at(b, i, j), t.x[i][j] - a[i] * s[j]);

  std::vector<double> num(t.m), den(t.m);
  column_sums(b, a.data(), num.data(), den.data());
  for (index_t j = 0; j < t.m; ++j) {
    double n_ref = 0, d_ref = 0;
    for (index_t i = 0; i < t.n; ++i)
      if (t.mask[i][j]) {
        n_ref += (t.x[i][j] - a[i] * s[j]) * a[i];
        d_ref += a[i] * a[i];
      }
    EXPECT_EQ(num[j], n_ref);
    EXPECT_EQ(den[j], d_ref);
  }
  std::vector<double> rnum(t.n), rden(t.n);
  row_sums(b, s.data(), rnum.data(), rden.data());
  for (index_t i = 0; i < t.n; ++i) {
    double n_ref = 0, d_ref = 0;
    for (index_t j = 0; j < t.m; ++j)
      if (t.mask[i][j]) {
        n_ref += (t.x[i][j] - a[i] * s[j]) * s[j];
        d_ref += s[j] * s[j];
      }
    EXPECT_EQ(rnum[i], n_ref);
    EXPECT_EQ(rden[i], d_ref);
  }

  // Taking feature 1 out and putting feature 2 in, in one pass, is the same as two passes.
  const std::vector<double> a2{1, 0.5, 3, 2}, s2{0.25, 1, 0, 2, 0.5};
  ObservedBlock two_passes = b;
  add_rank_one(two_passes, a.data(), s.data(), +1.0);
  add_rank_one(two_passes, a2.data(), s2.data(), -1.0);
  replace_rank_one(b, a2.data(), s2.data(), a.data(), s.data());  // r += a s - a2 s2
  for (index_t p = 0; p < b.entries(); ++p) EXPECT_EQ(b.residual[p], two_passes.residual[p]);
}

TEST(ObservedKernels, CoordinateIsNonNegativeWeightedAndNeverNaN) {
  const std::vector<double> numerator{3, -2, 0, 5}, denominator{1, 4, 0, 0}, counts{2, 1, 0, 4};
  std::vector<double> out(4, -7);
  nonnegative_coordinate(numerator.data(), denominator.data(), counts.data(), 0.5, 4, out.data());
  EXPECT_EQ(out[0], 3.0 / (0.5 * 2 + 1));  // the weighted ridge
  EXPECT_EQ(out[1], 0.0);                  // projected onto >= 0
  EXPECT_EQ(out[2], 0.0);                  // 0 / 0: a cold start stays 0
  EXPECT_EQ(out[3], 5.0 / 2.0);            // only the ridge
  nonnegative_coordinate(numerator.data(), denominator.data(), counts.data(), 0.0, 4, out.data());
  EXPECT_EQ(out[3], 0.0);  // lambda = 0 and no ratings seen by this sum: 0, not inf
  for (double v : out) EXPECT_FALSE(std::isnan(v));
}

TEST(ObservedKernels, BiasSumsShiftsAndErrors) {
  const Tiny t;
  ObservedBlock b = t.block();
  std::vector<double> rows(t.n), cols(t.m);
  row_residual_sums(b, rows.data());
  column_residual_sums(b, cols.data());
  EXPECT_EQ(rows, (std::vector<double>{9, 6, 0, 3.5}));
  EXPECT_EQ(cols, (std::vector<double>{6, 2.5, 5, 0, 5}));
  const std::vector<double> row_shift{1, 2, 3, 0.5}, col_shift{0.25, 0, 1, 9, 0.5};
  shift_rows(b, row_shift.data());
  shift_columns(b, col_shift.data());
  for (index_t i = 0; i < t.n; ++i)
    for (index_t j = 0; j < t.m; ++j)
      if (t.mask[i][j]) EXPECT_EQ(residual_at(b, i, j), t.x[i][j] - row_shift[i] - col_shift[j]);

  // Clipped errors: the prediction x - r clipped to [1, 4].
  double squared = 0, absolute = 0, unclipped = 0;
  for (index_t i = 0; i < t.n; ++i)
    for (index_t j = 0; j < t.m; ++j)
      if (t.mask[i][j]) {
        const double r = t.x[i][j] - row_shift[i] - col_shift[j];
        const double prediction = std::min(4.0, std::max(1.0, t.x[i][j] - r));
        squared += (t.x[i][j] - prediction) * (t.x[i][j] - prediction);
        absolute += std::abs(t.x[i][j] - prediction);
        unclipped += r * r;
      }
  const ErrorSums e = clipped_training_errors(b, 1.0, 4.0);
  EXPECT_DOUBLE_EQ(e.squared, squared);
  EXPECT_DOUBLE_EQ(e.absolute, absolute);
  EXPECT_EQ(e.count, 8);
  EXPECT_DOUBLE_EQ(residual_squares(b), unclipped);
}

// ALS's per-group solves against the many-column NNLS kernel on normal equations built here with plain loops: groups
// of several ratings, of one rating with a positive and a negative target (the closed form), and of none.
TEST(ObservedKernels, GroupSolvesMatchNnlsOnTheirNormalEquations) {
  const index_t k = 3;
  // Four rows of the other factor (k features, then their bias), all >= 0 as factors are.
  const std::vector<double> others{0.5, 1.0, 0.25, 0.1, 2.0, 0.0, 1.5, -0.3, 0.75, 0.5, 0.5, 0.0, 0.0, 3.0, 1.0, 0.2};
  GroupedRatings ratings;
  ratings.ptr = {0, 3, 4, 5, 5, 9};
  ratings.other = {0, 1, 3, 2, 1, 0, 1, 2, 3};
  ratings.value = {4, 1, 5, 4.5, 0.5, 1, 5, 2, 4};
  const std::vector<double> own_bias{0.2, -0.1, 0.3, 0.0, -0.4}, counts{3, 1, 1, 0, 4};
  const double mu = 2.5, lambda = 0.3;
  DenseMatrix out(k, 5, 1.0);  // a warm start, which must not matter
  solve_observed_groups(ratings, others, k, mu, own_bias.data(), counts.data(), lambda, out);
  for (index_t g = 0; g < 5; ++g) {
    DenseMatrix gram(k, k), rhs(k, 1), expected(k, 1);
    for (index_t q = 0; q < k; ++q) gram(q, q) = lambda * counts[g];
    for (index_t e = ratings.ptr[g]; e < ratings.ptr[g + 1]; ++e) {
      const double* o = others.data() + ratings.other[e] * (k + 1);
      const double y = ratings.value[e] - mu - own_bias[g] - o[k];
      for (index_t p = 0; p < k; ++p) {
        rhs(p, 0) += o[p] * y;
        for (index_t q = 0; q < k; ++q) gram(p, q) += o[p] * o[q];
      }
    }
    if (counts[g] > 0) nnls_block_principal_pivoting(gram, rhs, expected);
    for (index_t q = 0; q < k; ++q) EXPECT_NEAR(out(q, g), expected(q, 0), 1e-13) << "group " << g << ", " << q;
  }
  EXPECT_GT(out(0, 1), 0.0);  // one rating above its baseline: the closed form's positive branch
  for (index_t q = 0; q < k; ++q) EXPECT_EQ(out(q, 2), 0.0);  // below it: exactly 0
  for (index_t q = 0; q < k; ++q) EXPECT_EQ(out(q, 3), 0.0);  // no rating: a cold start
}

TEST(ObservedKernels, PredictionClipsAndHandlesColdStarts) {
  const double a[] = {1, 9, 2, 9}, s[] = {0.5, 9, 9, 0.25};  // strides 2 and 3: a = (1, 2), s = (0.5, 0.25)
  EXPECT_EQ(predict_rating(3, 0.5, -0.25, a, 2, s, 3, 2, -1e300, 1e300), 3 + 0.5 - 0.25 + 0.5 + 0.5);
  EXPECT_EQ(predict_rating(3, 0.5, -0.25, a, 2, s, 3, 2, 1, 4), 4.0);
  EXPECT_EQ(predict_rating(3, 0, -0.25, nullptr, 1, s, 3, 2, 1, 5), 2.75);  // an unseen row: mean + column bias
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(predict_rating(-3, 0, 0, nullptr, 1, nullptr, 1, 2, -inf, inf), -3.0);
}

}  // namespace
}  // namespace nmf
