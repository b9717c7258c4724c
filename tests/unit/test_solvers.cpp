#include <gtest/gtest.h>

#include "dense_helpers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "nmf/error.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/nnls.hpp"
#include "nmf/solvers/solver.hpp"
#include "nnls_reference.hpp"

namespace {

using nmf::test::columns_match;
using nmf::test::gram_of;
using nmf::test::max_abs;
using nmf::test::objective_scale;
using nmf::test::random_dense;
using nmf::test::random_gram;
using nmf::test::reference_nnls;
using nmf::test::subproblem_objective;
using nmf::test::times;

using nmf::DenseMatrix;
using nmf::FactorSide;
using nmf::index_t;
using nmf::UpdateInputs;

TEST(SolverRegistry, CatalogListsAls) {
  const auto& catalog = nmf::solver_catalog();
  const auto als =
      std::find_if(catalog.begin(), catalog.end(), [](const nmf::SolverInfo& s) { return s.name == "als"; });
  ASSERT_NE(als, catalog.end());
  EXPECT_FALSE(als->summary.empty());
}

TEST(SolverRegistry, EveryCatalogEntryCanBeMade) {
  for (const auto& info : nmf::solver_catalog()) {
    const auto solver = nmf::make_solver(info.name, nmf::SolverParams{3});
    ASSERT_NE(solver, nullptr);
    EXPECT_EQ(solver->name(), info.name);
    EXPECT_EQ(solver->ridges_added(), 0);
  }
}

TEST(SolverRegistry, UnknownSolverListsKnownOnes) {
  try {
    nmf::make_solver("nope", nmf::SolverParams{3});
    FAIL() << "expected a UsageError";
  } catch (const nmf::UsageError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'nope'"), std::string::npos) << message;
    for (const auto& info : nmf::solver_catalog()) EXPECT_NE(message.find(info.name), std::string::npos) << message;
  }
}

TEST(AlsUpdate, PositiveSolutionSolvesTheNormalEquations) {
  std::mt19937_64 rng(10);
  const index_t k = 6, count = 9;
  const DenseMatrix gram = random_gram(k, rng);
  const DenseMatrix truth = random_dense(k, count, rng, 0.5, 2.0);  // unconstrained optimum, all positive
  const DenseMatrix cross = times(gram, truth);
  auto solver = nmf::make_solver("als", nmf::SolverParams{static_cast<int>(k)});
  DenseMatrix factor(k, count, 0.25);
  solver->update(UpdateInputs{FactorSide::S, gram, cross, 0.0, 1}, factor);
  ASSERT_EQ(factor.rows(), k);
  ASSERT_EQ(factor.cols(), count);
  DenseMatrix residual = times(gram, factor);
  for (index_t i = 0; i < residual.size(); ++i) residual.values()[i] -= cross.values()[i];
  EXPECT_LT(max_abs(residual), 1e-10 * max_abs(cross));
  for (index_t i = 0; i < truth.size(); ++i) EXPECT_NEAR(factor.values()[i], truth.values()[i], 1e-8);
  EXPECT_EQ(solver->ridges_added(), 0);
}

TEST(AlsUpdate, NegativeEntriesAreClampedToZero) {
  std::mt19937_64 rng(11);
  const index_t k = 5, count = 12;
  const DenseMatrix gram = random_gram(k, rng);
  // Entries of either sign, kept away from zero so the sign of the computed solution is certain.
  DenseMatrix truth = random_dense(k, count, rng, 0.5, 2.0);
  for (index_t i = 0; i < truth.size(); ++i)
    if (i % 3 == 0) truth.values()[i] = -truth.values()[i];
  const DenseMatrix cross = times(gram, truth);

  auto solver = nmf::make_solver("als", nmf::SolverParams{static_cast<int>(k)});
  DenseMatrix factor(k, count);
  solver->update(UpdateInputs{FactorSide::A, gram, cross, 0.0, 3}, factor);

  // The unconstrained solution the same way the solver computes it, then clamped.
  DenseMatrix clamped = cross;
  nmf::cholesky_solve(gram, clamped);
  for (double& v : clamped.values()) v = std::max(v, 0.0);
  ASSERT_EQ(factor.rows(), k);
  ASSERT_EQ(factor.cols(), count);
  for (index_t i = 0; i < factor.size(); ++i) {
    EXPECT_EQ(factor.values()[i], clamped.values()[i]) << i;
    EXPECT_GE(factor.values()[i], 0.0) << i;
    if (truth.values()[i] < 0.0) {
      EXPECT_EQ(factor.values()[i], 0.0) << i;
    } else {
      EXPECT_NEAR(factor.values()[i], truth.values()[i], 1e-8) << i;
    }
  }
}

TEST(AlsUpdate, CountsRidgesForSingularGram) {
  std::mt19937_64 rng(12);
  const index_t k = 4;
  DenseMatrix gram = random_gram(k, rng);
  for (index_t i = 0; i < k; ++i) gram(1, i) = gram(i, 1) = 0.0;  // factor row 1 is all zero
  const DenseMatrix cross = random_dense(k, 3, rng, 0.0, 1.0);
  auto solver = nmf::make_solver("als", nmf::SolverParams{static_cast<int>(k)});
  DenseMatrix factor;
  solver->update(UpdateInputs{FactorSide::S, gram, cross, 0.0, 1}, factor);
  EXPECT_EQ(solver->ridges_added(), 1);
  for (double v : factor.values()) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GE(v, 0.0);
  }
  solver->update(UpdateInputs{FactorSide::A, gram, cross, 0.0, 2}, factor);
  EXPECT_EQ(solver->ridges_added(), 2);
}

// ----- shared helpers ------------------------------------------------------------------------------------------

// One update of `factor` by a fresh solver `name`.
DenseMatrix updated(const std::string& name, const DenseMatrix& gram, const DenseMatrix& cross, double l1,
                    DenseMatrix factor, int inner_sweeps = 1) {
  auto solver = nmf::make_solver(
      name, nmf::SolverParams{static_cast<int>(gram.rows()), 1, {{"inner", std::to_string(inner_sweeps)}}});
  solver->update(UpdateInputs{FactorSide::S, gram, cross, l1, 1}, factor);
  return factor;
}

// cross - l1, computed here rather than by the library's shifted_cross.
DenseMatrix minus(const DenseMatrix& cross, double l1) {
  DenseMatrix shifted = cross;
  for (double& v : shifted.values()) v -= l1;
  return shifted;
}

// Round-off allowance for "the objective did not increase": the objective is evaluated exactly enough (long
// double, exact double inputs), but an update computed in double can land a few eps times the size of the
// objective's terms (objective_scale) away from where exact arithmetic would put it.
constexpr double kObjectiveRoundoff = 64 * std::numeric_limits<double>::epsilon();

// Runs `iterations` updates of `solver` from `factor` and checks that none raises any column's subproblem
// objective beyond round-off, and that the total over the columns does fall.
void expect_no_update_increases_the_objective(const std::string& algo, const nmf::SolverParams& params, FactorSide side,
                                              const DenseMatrix& gram, const DenseMatrix& cross, double l1,
                                              DenseMatrix factor, int iterations) {
  const DenseMatrix rhs = minus(cross, l1);
  auto solver = nmf::make_solver(algo, params);
  long double first_total = 0.0L, last_total = 0.0L;
  for (int iteration = 1; iteration <= iterations; ++iteration) {
    const DenseMatrix before = factor;
    solver->update(UpdateInputs{side, gram, cross, l1, iteration}, factor);
    for (index_t j = 0; j < factor.cols(); ++j) {
      const long double old_value = subproblem_objective(gram, rhs, before, j);
      const long double new_value = subproblem_objective(gram, rhs, factor, j);
      const double allowance = kObjectiveRoundoff * objective_scale(gram, rhs, before, j);
      ASSERT_LE(static_cast<double>(new_value - old_value), allowance) << "iteration " << iteration << ", column " << j;
      if (iteration == 1) first_total += old_value;
      if (iteration == iterations) last_total += new_value;
    }
  }
  EXPECT_LT(last_total, first_total);  // and it does decrease
}

// A well-conditioned SPD Gram matrix: W W^T / (3k) + I/2 with W (k x 3k) uniform in [-1, 1); eigenvalues in
// about [0.55, 1.35].
DenseMatrix well_conditioned_gram(index_t k, std::mt19937_64& rng) {
  DenseMatrix g = gram_of(random_dense(k, 3 * k, rng, -1.0, 1.0));
  for (double& v : g.values()) v /= static_cast<double>(3 * k);
  for (index_t i = 0; i < k; ++i) g(i, i) += 0.5;
  return g;
}

// A non-negative Gram matrix with row and column q set to zero (the other factor's column q is zero).
DenseMatrix gram_with_zero_row(index_t k, index_t q, std::mt19937_64& rng) {
  DenseMatrix g = random_gram(k, rng);
  for (index_t i = 0; i < k; ++i) g(i, q) = g(q, i) = 0.0;
  return g;
}

bool all_finite(const DenseMatrix& a) {
  return std::all_of(a.values().begin(), a.values().end(), [](double v) { return std::isfinite(v); });
}

// ----- bpp -------------------------------------------------------------------------------------------------------

TEST(BppUpdate, EqualsNnlsOnTheStabilizedProblem) {
  std::mt19937_64 rng(30);
  const index_t k = 8, count = 150;
  std::vector<DenseMatrix> grams = {random_gram(k, rng), random_gram(k, rng, -1.0, 1.0), gram_with_zero_row(k, 5, rng),
                                    gram_of(random_dense(k, 3, rng))};
  for (std::size_t n = 0; n < grams.size(); ++n) {
    for (double l1 : {0.0, 0.3}) {
      SCOPED_TRACE(::testing::Message() << "gram " << n << ", l1 = " << l1);
      const DenseMatrix& gram = grams[n];
      const DenseMatrix cross = random_dense(k, count, rng, -0.5, 1.0);
      const DenseMatrix start = random_dense(k, count, rng, 0.0, 1.0);
      auto solver = nmf::make_solver("bpp", nmf::SolverParams{static_cast<int>(k)});
      DenseMatrix factor = start;
      solver->update(UpdateInputs{FactorSide::A, gram, cross, l1, 2}, factor);

      DenseMatrix stabilized = gram;
      const double ridge = nmf::stabilize_gram(stabilized);
      const DenseMatrix rhs = minus(cross, l1);
      DenseMatrix expected = start;
      nmf::nnls_block_principal_pivoting(stabilized, rhs, expected);
      EXPECT_EQ(factor.values(), expected.values());
      EXPECT_EQ(solver->ridges_added(), ridge > 0.0 ? 1 : 0);
      EXPECT_EQ(ridge > 0.0, n >= 2);  // the last two are singular
      // Independently: the exact NNLS solution (well-conditioned Gram matrices; the stabilized singular ones
      // have condition numbers ~1e11, too many digits lost for a 1e-10 comparison), or the KKT conditions.
      if (n < 2) {
        EXPECT_TRUE(columns_match(factor, reference_nnls(stabilized, rhs), 1e-10));
      }
      EXPECT_TRUE(nmf::test::satisfies_kkt(stabilized, rhs, factor, 1e-10));
    }
  }
}

TEST(BppUpdate, L1AboveEveryCrossEntryGivesZero) {
  // cross - l1 <= 0 in every entry: x = 0 satisfies the KKT conditions (y = -(cross - l1) >= 0).
  std::mt19937_64 rng(31);
  const index_t k = 6;
  const DenseMatrix gram = random_gram(k, rng);
  const DenseMatrix cross = random_dense(k, 40, rng, 0.0, 1.0);
  const DenseMatrix factor = updated("bpp", gram, cross, 1.0, random_dense(k, 40, rng, 0.0, 1.0));
  EXPECT_EQ(max_abs(factor), 0.0);
}

// ----- hals ------------------------------------------------------------------------------------------------------

TEST(HalsUpdate, HandExamples) {
  // k = 1: f = max(0, (c - l1) / G).
  DenseMatrix g1(1, 1, 2.0), c1(1, 3);
  c1(0, 0) = 3, c1(0, 1) = -1, c1(0, 2) = 0.5;
  const DenseMatrix f0 = updated("hals", g1, c1, 0.0, DenseMatrix(1, 3, 7.0));
  EXPECT_EQ(f0.values(), (std::vector<double>{1.5, 0.0, 0.25}));
  const DenseMatrix f1 = updated("hals", g1, c1, 0.5, DenseMatrix(1, 3, 7.0));
  EXPECT_EQ(f1.values(), (std::vector<double>{1.25, 0.0, 0.0}));
  // k = 2, G = [2 1; 1 2], c = [3; 3], from f = 0: coordinate 0 gets (3 - 0) / 2 = 1.5, then coordinate 1
  // gets (3 - 1.5) / 2 = 0.75 (Gauss-Seidel order).
  DenseMatrix g2(2, 2);
  g2(0, 0) = 2, g2(0, 1) = 1, g2(1, 0) = 1, g2(1, 1) = 2;
  const DenseMatrix c2(2, 1, 3.0);
  EXPECT_EQ(updated("hals", g2, c2, 0.0, DenseMatrix(2, 1)).values(), (std::vector<double>{1.5, 0.75}));
  // Two sweeps: coordinate 0 gets (3 - 0.75) / 2 = 1.125, coordinate 1 gets (3 - 1.125) / 2 = 0.9375.
  EXPECT_EQ(updated("hals", g2, c2, 0.0, DenseMatrix(2, 1), 2).values(), (std::vector<double>{1.125, 0.9375}));
}

TEST(HalsUpdate, ManySweepsConvergeToTheNnlsSolution) {
  std::mt19937_64 rng(32);
  const index_t count = 200;
  for (index_t k : {5, 12, 30}) {
    for (double l1 : {0.0, 0.1}) {
      SCOPED_TRACE(::testing::Message() << "k = " << k << ", l1 = " << l1);
      const DenseMatrix gram = well_conditioned_gram(k, rng);
      const DenseMatrix cross = random_dense(k, count, rng, -1.0, 1.0);
      const DenseMatrix factor = updated("hals", gram, cross, l1, random_dense(k, count, rng, 0.0, 1.0), 500);
      DenseMatrix expected(k, count);
      const nmf::NnlsStats stats = nmf::nnls_block_principal_pivoting(gram, minus(cross, l1), expected);
      ASSERT_EQ(stats.unconverged, 0);
      if (k <= 8) {
        ASSERT_TRUE(columns_match(expected, reference_nnls(gram, minus(cross, l1)), 1e-10));
      }
      // G has eigenvalues near 1, so x and c - l1 have the same scale.
      for (index_t j = 0; j < count; ++j) {
        const double scale = std::max(nmf::test::column_max_abs(expected, j), nmf::test::column_max_abs(cross, j));
        for (index_t i = 0; i < k; ++i) EXPECT_NEAR(factor(i, j), expected(i, j), 1e-8 * scale) << i << ", " << j;
      }
    }
  }
}

TEST(HalsUpdate, NoSweepIncreasesTheObjective) {
  std::mt19937_64 rng(33);
  const index_t count = 200;
  for (index_t k : {3, 10, 30}) {
    for (bool nonnegative : {true, false}) {
      for (double l1 : {0.0, 0.2}) {
        SCOPED_TRACE(::testing::Message()
                     << "k = " << k << (nonnegative ? ", G >= 0" : ", G mixed") << ", l1 = " << l1);
        const DenseMatrix gram = random_gram(k, rng, nonnegative ? 0.0 : -1.0, 1.0);
        const DenseMatrix cross = random_dense(k, count, rng, -0.5, 1.0);
        // Positive, so each coordinate step minimizes over an interval containing the old value.
        const DenseMatrix factor = random_dense(k, count, rng, 0.01, 2.0);
        expect_no_update_increases_the_objective("hals", nmf::SolverParams{static_cast<int>(k), 1, {{"inner", "1"}}},
                                                 FactorSide::S, gram, cross, l1, factor, 5);
      }
    }
  }
}

// Projected at 0, as scikit-learn's coordinate descent: a floor above 0 (hals had 1e-16) leaves the other factor a
// Gram diagonal of rounding size instead of 0, so the coordinate of a collapsed component is updated against it
// instead of kept (ZeroDiagonalCoordinateIsLeftAlone), and the path leaves scikit-learn's (README, Initialization).
TEST(HalsUpdate, EntriesStayNonNegativeAndReachZero) {
  std::mt19937_64 rng(34);
  const index_t k = 9, count = 100;
  const DenseMatrix gram = random_gram(k, rng);
  const DenseMatrix mixed =
      updated("hals", gram, random_dense(k, count, rng, -1.0, 1.0), 0.1, random_dense(k, count, rng, 0.0, 1.0), 3);
  for (double v : mixed.values()) EXPECT_GE(v, 0.0);
  EXPECT_GT(std::count(mixed.values().begin(), mixed.values().end(), 0.0), 0);  // the bound was hit
  // Negative cross with G >= 0 and f > 0: every coordinate minimizer is negative, so exactly 0.
  const DenseMatrix negative =
      updated("hals", gram, random_dense(k, count, rng, -1.0, -0.1), 0.0, random_dense(k, count, rng, 0.0, 1.0));
  for (double v : negative.values()) EXPECT_EQ(v, 0.0);
}

TEST(HalsUpdate, ZeroDiagonalCoordinateIsLeftAlone) {
  std::mt19937_64 rng(35);
  const index_t k = 6, q = 2, count = 50;
  const DenseMatrix gram = gram_with_zero_row(k, q, rng);
  DenseMatrix cross = random_dense(k, count, rng, -0.2, 1.0);
  for (index_t j = 0; j < count; j += 2) cross(q, j) = 0.0;  // consistent (zero) and not
  DenseMatrix start = random_dense(k, count, rng, 0.0, 1.0);
  for (index_t j = 0; j < count; j += 3) start(q, j) = 0.0;  // below the floor, and must stay there
  const DenseMatrix factor = updated("hals", gram, cross, 0.05, start, 4);
  EXPECT_TRUE(all_finite(factor));
  // The same update of the problem without coordinate q: G's row q is zero, so q never enters the others.
  DenseMatrix reduced_gram(k - 1, k - 1), reduced_cross(k - 1, count), reduced_start(k - 1, count);
  for (index_t a = 0, ra = 0; a < k; ++a) {
    if (a == q) continue;
    for (index_t b = 0, rb = 0; b < k; ++b)
      if (b != q) reduced_gram(ra, rb++) = gram(a, b);
    for (index_t j = 0; j < count; ++j) {
      reduced_cross(ra, j) = cross(a, j);
      reduced_start(ra, j) = start(a, j);
    }
    ++ra;
  }
  const DenseMatrix reduced = updated("hals", reduced_gram, reduced_cross, 0.05, reduced_start, 4);
  DenseMatrix others(k - 1, count);
  for (index_t j = 0; j < count; ++j) {
    EXPECT_EQ(factor(q, j), start(q, j)) << j;
    for (index_t a = 0, ra = 0; a < k; ++a)
      if (a != q) others(ra++, j) = factor(a, j);
  }
  // Equal up to round-off: the sums have one more (zero) term, which the compiler may contract differently.
  EXPECT_TRUE(columns_match(others, reduced, 1e-13));
}

// ----- mu --------------------------------------------------------------------------------------------------------

TEST(MuUpdate, HandExample) {
  // G = [2 1; 1 2], f = [1; 1]: G f = [3; 3]. f .* c ./ (G f + l1) (eps = 1e-16 is below half an ulp of 3).
  DenseMatrix g(2, 2);
  g(0, 0) = 2, g(0, 1) = 1, g(1, 0) = 1, g(1, 1) = 2;
  DenseMatrix c(2, 2);
  c(0, 0) = 3, c(1, 0) = 1;   // [3/3, 1/3]
  c(0, 1) = -1, c(1, 1) = 6;  // a negative cross entry gives 0: [0, 6/3]
  DenseMatrix f = updated("mu", g, c, 0.0, DenseMatrix(2, 2, 1.0));
  EXPECT_EQ(f(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(f(1, 0), 1.0 / 3.0);
  EXPECT_EQ(f(0, 1), 0.0);
  EXPECT_EQ(f(1, 1), 2.0);
  f = updated("mu", g, c, 1.0, DenseMatrix(2, 2, 1.0));  // denominators 3 + 1
  EXPECT_EQ(f(0, 0), 0.75);
  EXPECT_EQ(f(1, 0), 0.25);
  EXPECT_EQ(f(1, 1), 1.5);
}

TEST(MuUpdate, NeverIncreasesTheObjective) {
  // Lee & Seung: for G >= 0 entrywise and f > 0, diag((G f + l1 + eps) ./ f) - G is positive semidefinite,
  // so the separable quadratic it defines majorizes the objective 1/2 f^T G f - (c - l1)^T f, and the
  // update is that majorizer's minimizer over f >= 0 (a negative c_i gives 0). Hence no increase.
  std::mt19937_64 rng(36);
  const index_t count = 200;
  for (index_t k : {3, 10, 30}) {
    for (bool mixed_cross : {false, true}) {
      for (double l1 : {0.0, 0.05}) {
        SCOPED_TRACE(::testing::Message()
                     << "k = " << k << (mixed_cross ? ", cross mixed" : ", cross >= 0") << ", l1 = " << l1);
        DenseMatrix gram = random_gram(k, rng);
        for (index_t i = 0; i < k; ++i) gram(i, i) += 0.1;  // an L2 penalty
        const DenseMatrix cross =
            mixed_cross ? random_dense(k, count, rng, -0.5, 1.0) : times(gram, random_dense(k, count, rng, 0.0, 1.0));
        const DenseMatrix factor = random_dense(k, count, rng, 0.01, 2.0);
        expect_no_update_increases_the_objective("mu", nmf::SolverParams{static_cast<int>(k)}, FactorSide::A, gram,
                                                 cross, l1, factor, 10);
      }
    }
  }
}

TEST(MuUpdate, ZerosStayZeroAndZeroCrossGivesZero) {
  std::mt19937_64 rng(37);
  const index_t k = 7, count = 60;
  const DenseMatrix gram = random_gram(k, rng);
  DenseMatrix cross = random_dense(k, count, rng, 0.1, 1.0);
  for (index_t i = 0; i < k; ++i) cross(i, 4) = 0.0;   // a zero column of cross
  for (index_t i = 0; i < k; ++i) cross(i, 9) = -1.0;  // a negative one
  DenseMatrix start = random_dense(k, count, rng, 0.1, 1.0);
  std::bernoulli_distribution zero(0.3);
  for (double& v : start.values())
    if (zero(rng)) v = 0.0;
  for (double l1 : {0.0, 0.2}) {
    const DenseMatrix f = updated("mu", gram, cross, l1, start);
    EXPECT_TRUE(all_finite(f));
    for (index_t j = 0; j < count; ++j) {
      for (index_t i = 0; i < k; ++i) {
        if (start(i, j) == 0.0 || j == 4 || j == 9) {
          EXPECT_EQ(f(i, j), 0.0) << i << ", " << j;
        } else {
          EXPECT_GT(f(i, j), 0.0) << i << ", " << j;
        }
      }
    }
  }
  // An all-zero factor has G f = 0: the denominator is l1 + eps > 0, no 0 / 0.
  const DenseMatrix from_zero = updated("mu", gram, cross, 0.0, DenseMatrix(k, count));
  EXPECT_EQ(max_abs(from_zero), 0.0);
  EXPECT_TRUE(all_finite(from_zero));
}

TEST(MuUpdate, L1NeverIncreasesAnEntry) {
  std::mt19937_64 rng(38);
  const index_t k = 8, count = 80;
  const DenseMatrix gram = random_gram(k, rng);
  const DenseMatrix cross = random_dense(k, count, rng, -0.2, 1.0);
  const DenseMatrix start = random_dense(k, count, rng, 0.0, 1.0);
  const DenseMatrix plain = updated("mu", gram, cross, 0.0, start);
  for (double l1 : {1e-3, 0.3, 10.0}) {
    const DenseMatrix shrunk = updated("mu", gram, cross, l1, start);
    for (index_t i = 0; i < plain.size(); ++i) {
      EXPECT_LE(shrunk.values()[i], plain.values()[i]) << i;
      if (plain.values()[i] > 0.0) {
        EXPECT_LT(shrunk.values()[i], plain.values()[i]) << i;
      }
    }
  }
}

TEST(MuUpdate, PositiveOptimumIsAFixedPoint) {
  // cross = G t with t > 0: at f = t, G f = cross and the update multiplies by cross / (cross + eps) ~ 1.
  std::mt19937_64 rng(39);
  const index_t k = 10, count = 40;
  const DenseMatrix gram = random_gram(k, rng);
  const DenseMatrix t = random_dense(k, count, rng, 0.5, 2.0);
  const DenseMatrix f = updated("mu", gram, times(gram, t), 0.0, t);
  EXPECT_TRUE(columns_match(f, t, 1e-13));
}

// ----- als with l1 -----------------------------------------------------------------------------------------------

TEST(AlsUpdate, L1ShiftsTheRightHandSide) {
  std::mt19937_64 rng(40);
  const index_t k = 6, count = 50;
  const DenseMatrix gram = random_gram(k, rng);
  const DenseMatrix cross = random_dense(k, count, rng, 0.0, 1.0);
  for (double l1 : {0.0, 0.25}) {
    SCOPED_TRACE(::testing::Message() << "l1 = " << l1);
    const DenseMatrix factor = updated("als", gram, cross, l1, random_dense(k, count, rng));
    // The unconstrained solution by Gaussian elimination in long double, clamped.
    const DenseMatrix unconstrained = nmf::test::solve(gram, minus(cross, l1));
    DenseMatrix expected = unconstrained;
    for (double& v : expected.values()) v = std::max(v, 0.0);
    int clamped = 0;
    for (index_t j = 0; j < count; ++j) {
      const double scale = nmf::test::column_max_abs(unconstrained, j);
      for (index_t i = 0; i < k; ++i) {
        EXPECT_NEAR(factor(i, j), expected(i, j), 1e-10 * scale) << i << ", " << j;
        EXPECT_GE(factor(i, j), 0.0);
        clamped += unconstrained(i, j) < 0.0;
      }
    }
    EXPECT_GT(clamped, 0);              // not vacuous: some entries were clamped
    EXPECT_LT(clamped, factor.size());  // and some were not
  }
}

// ----- every solver on singular Gram matrices ----------------------------------------------------------------

TEST(AllSolvers, SingularGramLeavesNoNanOrInf) {
  // bpp and als add a ridge, hals skips a zero diagonal, mu has eps in the denominator.
  std::mt19937_64 rng(41);
  const index_t k = 6, count = 40, q = 1;
  const std::vector<std::pair<const char*, DenseMatrix>> grams = {
      {"zero row", gram_with_zero_row(k, q, rng)},
      {"rank 2", gram_of(random_dense(k, 2, rng))},
      {"all zero", DenseMatrix(k, k)},
  };
  for (const auto& [gram_name, gram] : grams) {
    const DenseMatrix consistent = times(gram, random_dense(k, count, rng, 0.0, 1.0));  // zero where G is
    const DenseMatrix arbitrary = random_dense(k, count, rng, 0.0, 1.0);
    for (const DenseMatrix* cross : {&consistent, &arbitrary}) {
      for (double l1 : {0.0, 0.1}) {
        for (const auto& info : nmf::solver_catalog()) {
          SCOPED_TRACE(::testing::Message()
                       << info.name << ", " << gram_name << ", " << (cross == &consistent ? "consistent" : "arbitrary")
                       << " cross, l1 = " << l1);
          auto solver = nmf::make_solver(info.name, nmf::SolverParams{static_cast<int>(k), 1, {{"inner", "2"}}});
          if (solver->scope() != nmf::UpdateScope::slice)
            continue;  // equation-based (kaczmarz): tested in test_kaczmarz.cpp
          const DenseMatrix start = random_dense(k, count, rng, 0.1, 1.0);
          DenseMatrix factor = start;
          for (int iteration = 1; iteration <= 3; ++iteration) {
            solver->update(UpdateInputs{FactorSide::S, gram, *cross, l1, iteration}, factor);
            ASSERT_EQ(factor.rows(), k);
            ASSERT_EQ(factor.cols(), count);
            ASSERT_TRUE(all_finite(factor)) << "iteration " << iteration;
            for (double v : factor.values()) ASSERT_GE(v, 0.0);
          }
          if (info.name == "bpp" || info.name == "als") {
            EXPECT_EQ(solver->ridges_added(), 3);
          }
          if (info.name == "hals" && std::string(gram_name) != "rank 2") {
            for (index_t j = 0; j < count; ++j) EXPECT_EQ(factor(q, j), start(q, j));
          }
        }
      }
    }
  }
}

}  // namespace
