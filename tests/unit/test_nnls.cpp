// Block principal pivoting NNLS (nmf/kernels/nnls.hpp) against an exact reference by enumeration of
// passive sets, problems with a known solution, and the KKT conditions; warm starts, degenerate and
// rank-deficient problems; the projected gradient.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "dense_helpers.hpp"
#include "nmf/error.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/nnls.hpp"
#include "nnls_reference.hpp"

namespace {

using nmf::test::columns_match;
using nmf::test::dual;
using nmf::test::dual_scale;
using nmf::test::gram_of;
using nmf::test::known_solution_problem;
using nmf::test::random_dense;
using nmf::test::random_gram;
using nmf::test::reference_nnls;
using nmf::test::satisfies_kkt;
using nmf::test::times;

using nmf::DenseMatrix;
using nmf::index_t;
using nmf::NnlsStats;

// Relative tolerance of every NNLS check below. The Gram matrices are well conditioned (condition number
// at most a few thousand), so a solver working in double is accurate to ~1e-13; 1e-10 leaves room for the
// condition number but not for a wrong passive set or a wrongly signed y.
constexpr double kTol = 1e-10;

enum class GramKind { mixed, nonnegative };

const char* gram_name(GramKind kind) {
  return kind == GramKind::mixed ? "W mixed sign" : "W non-negative";
}

// W W^T for W (k x 3k) uniform in [-1, 1) (off-diagonal entries of both signs) or in [0, 1) (all entries
// positive, like the Gram matrix of a non-negative factor, with one dominant eigenvalue).
DenseMatrix make_gram(GramKind kind, index_t k, std::mt19937_64& rng) {
  return random_gram(k, rng, kind == GramKind::mixed ? -1.0 : 0.0, 1.0);
}

enum class RhsKind { image, uniform };

const char* rhs_name(RhsKind kind) {
  return kind == RhsKind::image ? "C = G T, T mixed" : "C uniform";
}

// C = G T with T uniform in [-1, 1) (the unconstrained solution is T, about half of it negative), or C
// uniform in [-1, 1) itself.
DenseMatrix make_rhs(RhsKind kind, const DenseMatrix& g, index_t count, std::mt19937_64& rng) {
  if (kind == RhsKind::image) return times(g, random_dense(g.rows(), count, rng, -1.0, 1.0));
  return random_dense(g.rows(), count, rng, -1.0, 1.0);
}

// BPP from `start`; the stats go to *stats if given.
DenseMatrix bpp(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& start, NnlsStats* stats = nullptr) {
  DenseMatrix x = start;
  const NnlsStats s = nmf::nnls_block_principal_pivoting(g, c, x);
  if (stats) *stats = s;
  return x;
}

DenseMatrix bpp(const DenseMatrix& g, const DenseMatrix& c, NnlsStats* stats = nullptr) {
  return bpp(g, c, DenseMatrix(g.rows(), c.cols()), stats);
}

DenseMatrix negated(DenseMatrix a) {
  for (double& v : a.values()) v = -v;
  return a;
}

// ----- exact reference -----------------------------------------------------------------------------------------

TEST(BppNnls, HandExample) {
  // G = [2 1; 1 2], G^-1 = [2 -1; -1 2] / 3.
  DenseMatrix g(2, 2);
  g(0, 0) = 2, g(0, 1) = 1, g(1, 0) = 1, g(1, 1) = 2;
  DenseMatrix c(2, 4);
  c(0, 0) = 3, c(1, 0) = 3;    // unconstrained solution [1, 1] is feasible
  c(0, 1) = 1, c(1, 1) = -1;   // unconstrained [1, -1]; passive {0}: x = [1/2, 0], y_1 = 1/2 + 1 = 3/2
  c(0, 2) = -1, c(1, 2) = -1;  // y = -c >= 0 at x = 0
  c(0, 3) = 1, c(1, 3) = 0.5;  // unconstrained [1/2, 0]: x_1 = 0 and y_1 = 1/2 - 1/2 = 0 (degenerate)
  const double expected[2][4] = {{1.0, 0.5, 0.0, 0.5}, {1.0, 0.0, 0.0, 0.0}};
  for (const DenseMatrix& start : {DenseMatrix(2, 4), DenseMatrix(2, 4, 1.0)}) {
    const DenseMatrix x = bpp(g, c, start);
    const DenseMatrix ref = reference_nnls(g, c);
    for (index_t j = 0; j < 4; ++j) {
      for (index_t i = 0; i < 2; ++i) {
        EXPECT_NEAR(x(i, j), expected[i][j], 1e-15) << i << ", " << j;
        EXPECT_NEAR(ref(i, j), expected[i][j], 1e-15) << i << ", " << j;
        EXPECT_GE(x(i, j), 0.0);
      }
    }
    EXPECT_EQ(x(0, 2), 0.0);
    EXPECT_EQ(x(1, 2), 0.0);
  }
}

TEST(BppNnls, MatchesEnumerationReference) {
  std::mt19937_64 rng(101);
  const index_t count = 200;
  for (index_t k = 1; k <= 8; ++k) {
    for (GramKind gk : {GramKind::mixed, GramKind::nonnegative}) {
      for (RhsKind rk : {RhsKind::image, RhsKind::uniform}) {
        SCOPED_TRACE(::testing::Message() << "k = " << k << ", " << gram_name(gk) << ", " << rhs_name(rk));
        const DenseMatrix g = make_gram(gk, k, rng);
        const DenseMatrix c = make_rhs(rk, g, count, rng);
        double violation = 1.0;
        const DenseMatrix ref = reference_nnls(g, c, &violation);
        ASSERT_LT(violation, 1e-13) << "the reference found no KKT point";
        // A cold start and a random start with entries of both signs (the positive ones seed the sets).
        for (const DenseMatrix& start : {DenseMatrix(k, count), random_dense(k, count, rng, -1.0, 1.0)}) {
          NnlsStats stats;
          const DenseMatrix x = bpp(g, c, start, &stats);
          EXPECT_EQ(stats.unconverged, 0);
          EXPECT_TRUE(columns_match(x, ref, kTol));
          EXPECT_TRUE(satisfies_kkt(g, c, x, kTol));
        }
      }
    }
  }
}

// The one-right-hand-side method (the recommender ALS's) gives the enumeration reference's solution column by
// column, from a cold and a random start, with one workspace reused across all columns and sizes.
TEST(BppNnls, OneRightHandSideMatchesEnumerationReference) {
  std::mt19937_64 rng(103);
  const index_t count = 60;
  nmf::NnlsWorkspace work;
  for (index_t k = 1; k <= 8; ++k) {
    for (GramKind gk : {GramKind::mixed, GramKind::nonnegative}) {
      for (RhsKind rk : {RhsKind::image, RhsKind::uniform}) {
        SCOPED_TRACE(::testing::Message() << "k = " << k << ", " << gram_name(gk) << ", " << rhs_name(rk));
        const DenseMatrix g = make_gram(gk, k, rng);
        const DenseMatrix c = make_rhs(rk, g, count, rng);
        const DenseMatrix ref = reference_nnls(g, c);
        for (DenseMatrix x : {DenseMatrix(k, count), random_dense(k, count, rng, -1.0, 1.0)}) {
          for (index_t j = 0; j < count; ++j)
            EXPECT_EQ(nmf::nnls_one_right_hand_side(g, c.col(j), x.col(j), work).unconverged, 0);
          EXPECT_TRUE(columns_match(x, ref, kTol));
          EXPECT_TRUE(satisfies_kkt(g, c, x, kTol));
        }
      }
    }
  }
}

// C = G X* - Y* with complementary X*, Y* >= 0 has the solution X*, known without any solver. With
// p_dual < 1 - p_primal some indices have x_i = 0 = y_i (degenerate complementarity); with p_dual = 0 this
// is C = G T for T >= 0 with exact zeros, every zero of T degenerate.
TEST(BppNnls, KnownSolutionsIncludingDegenerateIndices) {
  std::mt19937_64 rng(102);
  const index_t count = 200;
  const double probabilities[][2] = {{0.5, 0.5}, {0.5, 0.3}, {0.6, 0.0}, {0.2, 0.2}};
  for (index_t k : {1, 2, 3, 5, 8, 12, 20, 50}) {
    for (GramKind gk : {GramKind::mixed, GramKind::nonnegative}) {
      for (const auto& p : probabilities) {
        SCOPED_TRACE(::testing::Message()
                     << "k = " << k << ", " << gram_name(gk) << ", p_primal = " << p[0] << ", p_dual = " << p[1]);
        const DenseMatrix g = make_gram(gk, k, rng);
        const auto problem = known_solution_problem(g, count, rng, p[0], p[1]);
        for (const DenseMatrix& start : {DenseMatrix(k, count), random_dense(k, count, rng, 0.0, 1.0)}) {
          NnlsStats stats;
          const DenseMatrix x = bpp(g, problem.rhs, start, &stats);
          EXPECT_EQ(stats.unconverged, 0);
          EXPECT_TRUE(columns_match(x, problem.solution, kTol));
          EXPECT_TRUE(satisfies_kkt(g, problem.rhs, x, kTol));
        }
        if (k <= 8) {
          EXPECT_TRUE(columns_match(reference_nnls(g, problem.rhs), problem.solution, kTol));
        }
      }
    }
  }
}

// ----- KKT for sizes enumeration cannot reach ---------------------------------------------------------------

TEST(BppNnls, KktHoldsForLargeK) {
  std::mt19937_64 rng(103);
  const index_t count = 1000;
  for (index_t k : {20, 50, 65}) {  // 65: passive sets span two 64-bit words
    for (GramKind gk : {GramKind::mixed, GramKind::nonnegative}) {
      for (RhsKind rk : {RhsKind::image, RhsKind::uniform}) {
        SCOPED_TRACE(::testing::Message() << "k = " << k << ", " << gram_name(gk) << ", " << rhs_name(rk));
        const DenseMatrix g = make_gram(gk, k, rng);
        const DenseMatrix c = make_rhs(rk, g, count, rng);
        NnlsStats stats;
        const DenseMatrix x = bpp(g, c, &stats);
        EXPECT_EQ(stats.unconverged, 0);
        EXPECT_TRUE(satisfies_kkt(g, c, x, kTol));
        // Not vacuous: some entries are active and some passive.
        const auto zeros = std::count(x.values().begin(), x.values().end(), 0.0);
        EXPECT_GT(zeros, 0);
        EXPECT_LT(zeros, x.size());
      }
    }
  }
}

// ----- warm starts ------------------------------------------------------------------------------------------

TEST(BppNnls, ResultDoesNotDependOnTheStart) {
  std::mt19937_64 rng(104);
  const index_t count = 300;
  for (index_t k : {3, 6, 20, 65}) {
    for (GramKind gk : {GramKind::mixed, GramKind::nonnegative}) {
      SCOPED_TRACE(::testing::Message() << "k = " << k << ", " << gram_name(gk));
      const DenseMatrix g = make_gram(gk, k, rng);
      const DenseMatrix c = make_rhs(RhsKind::uniform, g, count, rng);
      const DenseMatrix cold = bpp(g, c);
      ASSERT_TRUE(satisfies_kkt(g, c, cold, kTol));
      if (k <= 8) {
        EXPECT_TRUE(columns_match(cold, reference_nnls(g, c), kTol));
      }
      // Passive sets exactly complementary to the solution's.
      DenseMatrix complement(k, count);
      for (index_t i = 0; i < cold.size(); ++i) complement.values()[i] = cold.values()[i] > 0.0 ? 0.0 : 1.0;
      // The solution of the problem with -C: where it is positive the true solution tends to be zero.
      DenseMatrix opposite = bpp(g, negated(c));
      const std::vector<std::pair<const char*, DenseMatrix>> starts = {
          {"random positive", random_dense(k, count, rng, 0.01, 1.0)},
          {"random of both signs", random_dense(k, count, rng, -1.0, 1.0)},
          {"all passive", DenseMatrix(k, count, 1.0)},
          {"the solution", cold},
          {"the complement of the solution's support", complement},
          {"the solution for -C", opposite},
          {"minus the solution (positive part: zero)", negated(cold)},
      };
      for (const auto& [name, start] : starts) {
        SCOPED_TRACE(name);
        NnlsStats stats;
        const DenseMatrix x = bpp(g, c, start, &stats);
        EXPECT_EQ(stats.unconverged, 0);
        EXPECT_TRUE(columns_match(x, cold, kTol));
      }
    }
  }
}

TEST(BppNnls, StartingAtTheSolutionNeedsNoExchange) {
  std::mt19937_64 rng(105);
  for (index_t k : {4, 10, 30}) {
    SCOPED_TRACE(::testing::Message() << "k = " << k);
    const DenseMatrix g = make_gram(GramKind::mixed, k, rng);
    // Non-degenerate: every index is strictly positive in exactly one of x and y.
    const auto problem = known_solution_problem(g, 250, rng, 0.4, 0.6);
    NnlsStats stats;
    const DenseMatrix x = bpp(g, problem.rhs, problem.solution, &stats);
    EXPECT_TRUE(columns_match(x, problem.solution, kTol));
    EXPECT_EQ(stats.pivot_rounds, 0);
    EXPECT_EQ(stats.unconverged, 0);
    // One factorization per distinct non-empty passive set: columns sharing one share it.
    std::set<std::vector<bool>> supports;
    for (index_t j = 0; j < x.cols(); ++j) {
      std::vector<bool> support(static_cast<std::size_t>(k));
      for (index_t i = 0; i < k; ++i) support[static_cast<std::size_t>(i)] = problem.solution(i, j) > 0.0;
      if (std::find(support.begin(), support.end(), true) != support.end()) supports.insert(support);
    }
    EXPECT_EQ(stats.factorizations, static_cast<index_t>(supports.size()));
    if (k <= 10) {  // small k: columns do share passive sets
      EXPECT_LT(stats.factorizations, x.cols());
    }
  }
}

// ----- degenerate inputs --------------------------------------------------------------------------------------

TEST(BppNnls, ZeroRightHandSideGivesZero) {
  std::mt19937_64 rng(106);
  const index_t k = 7, count = 60;
  const DenseMatrix g = make_gram(GramKind::mixed, k, rng);
  DenseMatrix c = random_dense(k, count, rng, -1.0, 1.0);
  for (index_t j = 0; j < count; j += 3)
    for (index_t i = 0; i < k; ++i) c(i, j) = 0.0;
  for (const DenseMatrix& start :
       {DenseMatrix(k, count), random_dense(k, count, rng, 0.0, 1.0), DenseMatrix(k, count, 1.0)}) {
    NnlsStats stats;
    const DenseMatrix x = bpp(g, c, start, &stats);
    EXPECT_EQ(stats.unconverged, 0);
    for (index_t j = 0; j < count; j += 3)
      for (index_t i = 0; i < k; ++i) EXPECT_EQ(x(i, j), 0.0) << i << ", " << j;
    EXPECT_TRUE(columns_match(x, reference_nnls(g, c), kTol));
  }
}

TEST(BppNnls, NonPositiveRightHandSideGivesZero) {
  // y = G 0 - c = -c >= 0: x = 0 satisfies the KKT conditions, so it is the solution.
  std::mt19937_64 rng(107);
  for (index_t k : {1, 5, 20}) {
    for (GramKind gk : {GramKind::mixed, GramKind::nonnegative}) {
      SCOPED_TRACE(::testing::Message() << "k = " << k << ", " << gram_name(gk));
      const index_t count = 100;
      const DenseMatrix g = make_gram(gk, k, rng);
      DenseMatrix strictly_negative = random_dense(k, count, rng, -1.0, -0.01);
      DenseMatrix with_zeros = strictly_negative;
      for (index_t i = 0; i < with_zeros.size(); i += 3) with_zeros.values()[i] = 0.0;
      for (const DenseMatrix* c : {&strictly_negative, &with_zeros}) {
        for (const DenseMatrix& start :
             {DenseMatrix(k, count), random_dense(k, count, rng, 0.0, 1.0), DenseMatrix(k, count, 1.0)}) {
          NnlsStats stats;
          const DenseMatrix x = bpp(g, *c, start, &stats);
          EXPECT_EQ(stats.unconverged, 0);
          EXPECT_EQ(nmf::test::max_abs(x), 0.0);
        }
      }
    }
  }
}

TEST(BppNnls, DuplicatedColumnsGiveIdenticalSolutions) {
  std::mt19937_64 rng(108);
  for (index_t k : {6, 12, 40}) {
    SCOPED_TRACE(::testing::Message() << "k = " << k);
    const index_t distinct = 50, copies = 4;
    const DenseMatrix g = make_gram(GramKind::mixed, k, rng);
    const DenseMatrix base = make_rhs(RhsKind::uniform, g, distinct, rng);
    DenseMatrix c(k, distinct * copies);
    for (index_t j = 0; j < c.cols(); ++j)
      for (index_t i = 0; i < k; ++i) c(i, j) = base(i, j % distinct);
    // The same start for every copy: the same arithmetic, so bit-identical results.
    DenseMatrix same_start = random_dense(k, distinct * copies, rng, -1.0, 1.0);
    for (index_t j = distinct; j < c.cols(); ++j)
      for (index_t i = 0; i < k; ++i) same_start(i, j) = same_start(i, j % distinct);
    for (const DenseMatrix& start : {DenseMatrix(k, distinct * copies), same_start}) {
      const DenseMatrix x = bpp(g, c, start);
      for (index_t j = distinct; j < c.cols(); ++j)
        for (index_t i = 0; i < k; ++i) ASSERT_EQ(x(i, j), x(i, j % distinct)) << i << ", " << j;
      EXPECT_TRUE(satisfies_kkt(g, c, x, kTol));
    }
    // Different starts for the copies: the same solution up to round-off.
    const DenseMatrix x = bpp(g, c, random_dense(k, distinct * copies, rng, -1.0, 1.0));
    DenseMatrix first_copy(k, c.cols());
    for (index_t j = 0; j < c.cols(); ++j)
      for (index_t i = 0; i < k; ++i) first_copy(i, j) = x(i, j % distinct);
    EXPECT_TRUE(columns_match(x, first_copy, kTol));
  }
}

TEST(BppNnls, ColumnsAloneAndInGroupsGiveTheSameBits) {
  // A column alone with its passive set is solved side by side with others of the same passive-set size (a batch),
  // a column whose set others share in a group with one factorization: the same arithmetic in the same order, so
  // the same bits. Solved once with every column distinct, once with every column doubled.
  std::mt19937_64 rng(109);
  for (index_t k : {1, 5, 20, 33, 64}) {
    SCOPED_TRACE(::testing::Message() << "k = " << k);
    const index_t distinct = 200;
    const DenseMatrix g = make_gram(GramKind::nonnegative, k, rng);
    const DenseMatrix c = make_rhs(RhsKind::image, g, distinct, rng);
    const DenseMatrix start = random_dense(k, distinct, rng, -1.0, 1.0);
    DenseMatrix doubled_c(k, 2 * distinct), doubled_start(k, 2 * distinct);
    for (index_t j = 0; j < 2 * distinct; ++j)
      for (index_t i = 0; i < k; ++i) {
        doubled_c(i, j) = c(i, j / 2);
        doubled_start(i, j) = start(i, j / 2);
      }
    const DenseMatrix alone = bpp(g, c, start);
    const DenseMatrix grouped = bpp(g, doubled_c, doubled_start);
    for (index_t j = 0; j < 2 * distinct; ++j)
      for (index_t i = 0; i < k; ++i) ASSERT_EQ(grouped(i, j), alone(i, j / 2)) << i << ", " << j;
  }
}

// The backup rule is hard to force; at least many random problems at k = 30 must all converge (no column
// hits the round limit and gets projected) in far fewer rounds than the limit.
TEST(BppNnls, ManyProblemsAtK30ConvergeInFewRounds) {
  std::mt19937_64 rng(109);
  const index_t k = 30, count = 500;
  int most_rounds = 0;
  for (int problem = 0; problem < 24; ++problem) {
    const GramKind gk = problem % 2 == 0 ? GramKind::mixed : GramKind::nonnegative;
    const RhsKind rk = (problem / 2) % 2 == 0 ? RhsKind::image : RhsKind::uniform;
    SCOPED_TRACE(::testing::Message() << "problem " << problem << ", " << gram_name(gk) << ", " << rhs_name(rk));
    const DenseMatrix g = make_gram(gk, k, rng);
    const DenseMatrix c = make_rhs(rk, g, count, rng);
    NnlsStats stats;
    const DenseMatrix x = bpp(g, c, &stats);
    EXPECT_EQ(stats.unconverged, 0);
    EXPECT_LT(stats.pivot_rounds, 10 * k);
    EXPECT_GT(stats.factorizations, 0);
    EXPECT_TRUE(satisfies_kkt(g, c, x, kTol));
    most_rounds = std::max(most_rounds, stats.pivot_rounds);
  }
  RecordProperty("most_pivot_rounds", most_rounds);
}

TEST(BppNnls, EmptyProblems) {
  DenseMatrix none(0, 0);
  DenseMatrix x0(0, 5);
  const NnlsStats a = nmf::nnls_block_principal_pivoting(none, DenseMatrix(0, 5), x0);
  EXPECT_EQ(a.pivot_rounds, 0);
  EXPECT_EQ(a.factorizations, 0);
  EXPECT_EQ(a.unconverged, 0);
  DenseMatrix g(3, 3);
  g(0, 0) = g(1, 1) = g(2, 2) = 1.0;
  DenseMatrix x1(3, 0);
  const NnlsStats b = nmf::nnls_block_principal_pivoting(g, DenseMatrix(3, 0), x1);
  EXPECT_EQ(b.factorizations, 0);
  EXPECT_EQ(x1.cols(), 0);
}

TEST(BppNnls, RejectsMismatchedShapes) {
  DenseMatrix g(3, 3);
  g(0, 0) = g(1, 1) = g(2, 2) = 1.0;
  DenseMatrix x_wrong_cols(3, 4), x_wrong_rows(2, 5), x(3, 5);
  EXPECT_THROW(nmf::nnls_block_principal_pivoting(g, DenseMatrix(3, 5), x_wrong_cols), nmf::Error);
  EXPECT_THROW(nmf::nnls_block_principal_pivoting(g, DenseMatrix(3, 5), x_wrong_rows), nmf::Error);
  EXPECT_THROW(nmf::nnls_block_principal_pivoting(g, DenseMatrix(2, 5), x), nmf::Error);
  EXPECT_THROW(nmf::nnls_block_principal_pivoting(DenseMatrix(3, 2), DenseMatrix(3, 5), x), nmf::Error);
}

TEST(BppNnls, UnstabilizedSingularGramThrows) {
  // y = -c < 0 at x = 0 makes index 0 passive, and G_00 = 0 cannot be factored.
  DenseMatrix g(2, 2);
  g(1, 1) = 1.0;
  DenseMatrix c(2, 1, 1.0);
  DenseMatrix x(2, 1);
  EXPECT_THROW(nmf::nnls_block_principal_pivoting(g, c, x), nmf::Error);
}

// ----- rank-deficient Gram matrices, stabilized first ------------------------------------------------------

struct SingularCase {
  index_t k, rank;
  GramKind kind;
  std::vector<index_t> zero_rows;  // rows (and columns) of G set to zero
  // Columns of W shifted to sum to zero: then G 1 = 0, a null vector in the non-negative orthant, along
  // which x grows to ~|c| / ridge, so y = G x - c is the difference of terms ~1e11 times larger than c.
  bool centered = false;
};

TEST(BppNnls, RankDeficientGramAfterStabilization) {
  const std::vector<SingularCase> cases = {
      {4, 1, GramKind::mixed, {}},         {6, 3, GramKind::mixed, {}},
      {6, 3, GramKind::nonnegative, {}},   {10, 4, GramKind::nonnegative, {}},
      {20, 10, GramKind::mixed, {}},       {50, 20, GramKind::nonnegative, {}},
      {8, 24, GramKind::mixed, {3}},       {30, 90, GramKind::nonnegative, {0, 17}},
      {5, 2, GramKind::mixed, {}, true},   {10, 5, GramKind::mixed, {}, true},
      {20, 10, GramKind::mixed, {}, true},
  };
  std::mt19937_64 rng(110);
  for (const SingularCase& sc : cases) {
    SCOPED_TRACE(::testing::Message() << "k = " << sc.k << ", rank of W = " << sc.rank << ", " << gram_name(sc.kind)
                                      << ", " << sc.zero_rows.size() << " zero rows"
                                      << (sc.centered ? ", centered" : ""));
    const index_t k = sc.k;
    DenseMatrix w = random_dense(k, sc.rank, rng, sc.kind == GramKind::mixed ? -1.0 : 0.0, 1.0);
    for (index_t q : sc.zero_rows)
      for (index_t l = 0; l < sc.rank; ++l) w(q, l) = 0.0;  // a zero row of the factor
    if (sc.centered) {
      for (index_t l = 0; l < sc.rank; ++l) {
        double mean = 0.0;
        for (index_t i = 0; i < k; ++i) mean += w(i, l) / static_cast<double>(k);
        for (index_t i = 0; i < k; ++i) w(i, l) -= mean;
      }
    }
    const DenseMatrix original = gram_of(w);
    double trace = 0.0;
    for (index_t i = 0; i < k; ++i) trace += original(i, i);

    DenseMatrix g = original;
    const double ridge = nmf::stabilize_gram(g);
    EXPECT_GT(ridge, 0.0);
    EXPECT_LE(ridge, 1e-6 * trace / static_cast<double>(k));
    for (index_t j = 0; j < k; ++j)
      for (index_t i = 0; i < k; ++i) EXPECT_EQ(g(i, j), i == j ? original(i, j) + ridge : original(i, j));

    // Numerically SPD now: Cholesky needs no further ridge and solves with a residual at round-off level.
    const DenseMatrix b = random_dense(k, 5, rng, -1.0, 1.0);
    DenseMatrix y = b;
    EXPECT_EQ(nmf::cholesky_solve(g, y), 0.0);
    for (index_t j = 0; j < b.cols(); ++j) {
      const auto r = dual(g, b, y, j);
      for (long double v : r) EXPECT_LE(std::abs(static_cast<double>(v)), kTol * dual_scale(g, b, y, j));
    }

    // BPP on the stabilized matrix: an inconsistent right-hand side (the null space of W gets the ridge
    // only, so x grows large there) and a consistent one, C = G T with G the singular matrix.
    const index_t count = 300;
    const DenseMatrix inconsistent = random_dense(k, count, rng, -1.0, 1.0);
    const DenseMatrix consistent = times(original, random_dense(k, count, rng, -1.0, 1.0));
    for (const DenseMatrix* c : {&inconsistent, &consistent}) {
      NnlsStats stats;
      const DenseMatrix x = bpp(g, *c, &stats);
      EXPECT_EQ(stats.unconverged, 0);
      EXPECT_TRUE(satisfies_kkt(g, *c, x, kTol));
    }
    // A zero row of G with a zero row of C (the usual case: the factor's column is zero, so is the cross
    // product's row): the solution is zero there.
    const DenseMatrix x = bpp(g, consistent);
    for (index_t q : sc.zero_rows)
      for (index_t j = 0; j < count; ++j) EXPECT_EQ(x(q, j), 0.0) << q << ", " << j;
  }
}

// ----- projected gradient ------------------------------------------------------------------------------------

TEST(ProjectedGradient, HandExample) {
  // G = I, c = [1, -1, 2], x = [0, 0, 3]: g = x - c = [-1, 1, 1]. At x_0 = 0 keep min(-1, 0) = -1, at
  // x_1 = 0 keep min(1, 0) = 0, at x_2 > 0 keep 1.
  DenseMatrix g(3, 3);
  g(0, 0) = g(1, 1) = g(2, 2) = 1.0;
  DenseMatrix c(3, 1), x(3, 1);
  c(0, 0) = 1, c(1, 0) = -1, c(2, 0) = 2;
  x(2, 0) = 3;
  std::vector<double> sums = {10.0, 20.0, 30.0};
  nmf::add_projected_gradient_row_norms(g, c, x, sums);
  EXPECT_EQ(sums, (std::vector<double>{11.0, 20.0, 31.0}));
}

// The naive projected gradient: g = G x - c, kept where x > 0, min(g, 0) where x = 0, in long double.
std::vector<long double> naive_row_norms(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& x) {
  std::vector<long double> sums(static_cast<std::size_t>(g.rows()), 0.0L);
  for (index_t j = 0; j < x.cols(); ++j) {
    const auto y = dual(g, c, x, j);
    for (index_t q = 0; q < g.rows(); ++q) {
      const long double v =
          x(q, j) > 0.0 ? y[static_cast<std::size_t>(q)] : std::min(y[static_cast<std::size_t>(q)], 0.0L);
      sums[static_cast<std::size_t>(q)] += v * v;
    }
  }
  return sums;
}

TEST(ProjectedGradient, MatchesNaiveComputationAndAccumulates) {
  std::mt19937_64 rng(111);
  for (index_t k : {1, 4, 9, 33}) {
    SCOPED_TRACE(::testing::Message() << "k = " << k);
    const index_t count = 70;
    const DenseMatrix g = make_gram(GramKind::mixed, k, rng);
    const DenseMatrix c = random_dense(k, count, rng, -1.0, 1.0);
    DenseMatrix x = random_dense(k, count, rng, 0.0, 1.0);
    std::bernoulli_distribution zero(0.4);
    for (double& v : x.values())
      if (zero(rng)) v = 0.0;
    const std::vector<long double> expected = naive_row_norms(g, c, x);
    // Each gradient entry is accurate to a few eps times the size of its terms (dual_scale); squared and
    // summed, that bounds the error of a row sum by ~eps * sum_j scale_j^2.
    double scale_squared = 0.0;
    for (index_t j = 0; j < count; ++j) scale_squared += std::pow(dual_scale(g, c, x, j), 2);

    std::vector<double> sums(static_cast<std::size_t>(k));
    for (index_t q = 0; q < k; ++q) sums[static_cast<std::size_t>(q)] = 0.5 + static_cast<double>(q);
    nmf::add_projected_gradient_row_norms(g, c, x, sums);
    ASSERT_EQ(sums.size(), static_cast<std::size_t>(k));
    for (index_t q = 0; q < k; ++q) {
      const double want = static_cast<double>(expected[static_cast<std::size_t>(q)]) + 0.5 + static_cast<double>(q);
      EXPECT_NEAR(sums[static_cast<std::size_t>(q)], want, 1e-12 * scale_squared) << q;
    }
    // An empty vector is sized to k and receives the sums themselves.
    std::vector<double> fresh;
    nmf::add_projected_gradient_row_norms(g, c, x, fresh);
    ASSERT_EQ(fresh.size(), static_cast<std::size_t>(k));
    for (index_t q = 0; q < k; ++q)
      EXPECT_NEAR(fresh[static_cast<std::size_t>(q)], static_cast<double>(expected[static_cast<std::size_t>(q)]),
                  1e-12 * scale_squared)
          << q;
  }
}

TEST(ProjectedGradient, VanishesAtTheBppSolution) {
  std::mt19937_64 rng(112);
  for (index_t k : {5, 20, 50}) {
    for (GramKind gk : {GramKind::mixed, GramKind::nonnegative}) {
      SCOPED_TRACE(::testing::Message() << "k = " << k << ", " << gram_name(gk));
      const index_t count = 300;
      const DenseMatrix g = make_gram(gk, k, rng);
      const DenseMatrix c = make_rhs(RhsKind::uniform, g, count, rng);
      const DenseMatrix x = bpp(g, c);
      // The projected gradient is y (where x > 0) and min(y, 0) (where x = 0), both zero at a KKT point
      // up to kTol times the dual scale of each column.
      double scale_squared = 0.0;
      for (index_t j = 0; j < count; ++j) scale_squared += std::pow(dual_scale(g, c, x, j), 2);
      std::vector<double> at_solution;
      nmf::add_projected_gradient_row_norms(g, c, x, at_solution);
      double total = 0.0;
      for (index_t q = 0; q < k; ++q) {
        EXPECT_LE(std::sqrt(at_solution[static_cast<std::size_t>(q)]), kTol * std::sqrt(scale_squared)) << q;
        total += at_solution[static_cast<std::size_t>(q)];
      }
      // Not vacuous: at the cold start and at a slightly scaled solution it is far from zero.
      std::vector<double> at_zero, at_scaled;
      nmf::add_projected_gradient_row_norms(g, c, DenseMatrix(k, count), at_zero);
      DenseMatrix scaled = x;
      for (double& v : scaled.values()) v *= 1.001;
      nmf::add_projected_gradient_row_norms(g, c, scaled, at_scaled);
      double total_zero = 0.0, total_scaled = 0.0;
      for (index_t q = 0; q < k; ++q) {
        total_zero += at_zero[static_cast<std::size_t>(q)];
        total_scaled += at_scaled[static_cast<std::size_t>(q)];
      }
      EXPECT_GT(std::sqrt(total_zero), 1e-2 * std::sqrt(scale_squared));
      EXPECT_GT(std::sqrt(total_scaled), 1e3 * std::sqrt(total) + 1e-8 * std::sqrt(scale_squared));
    }
  }
}

TEST(ProjectedGradient, EmptySliceAddsNothing) {
  DenseMatrix g(2, 2);
  g(0, 0) = g(1, 1) = 1.0;
  std::vector<double> sums = {1.5, 2.5};
  nmf::add_projected_gradient_row_norms(g, DenseMatrix(2, 0), DenseMatrix(2, 0), sums);
  EXPECT_EQ(sums, (std::vector<double>{1.5, 2.5}));
  std::vector<double> fresh;
  nmf::add_projected_gradient_row_norms(g, DenseMatrix(2, 0), DenseMatrix(2, 0), fresh);
  EXPECT_EQ(fresh, (std::vector<double>{0.0, 0.0}));
}

}  // namespace

// ----- the fast kernel against the reference kernel -------------------------------------------------------------

namespace {

DenseMatrix reference_bpp(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& start,
                          NnlsStats* stats = nullptr) {
  DenseMatrix x = start;
  const NnlsStats s = nmf::reference::nnls_block_principal_pivoting(g, c, x);
  if (stats) *stats = s;
  return x;
}

}  // namespace

TEST(BppNnlsFast, EqualsTheReferenceExactlyOnTinyExactProblems) {
  // Diagonal Gram matrices of powers of four (exact square roots) and integer right-hand sides: every operation of
  // either kernel is exact, so the two must agree bit for bit, from any start.
  std::mt19937_64 rng(211);
  for (int problem = 0; problem < 200; ++problem) {
    const index_t k = 1 + problem % 4, count = 1 + problem % 7;
    DenseMatrix g(k, k), c(k, count), start(k, count);
    for (index_t i = 0; i < k; ++i) g(i, i) = std::ldexp(1.0, 2 * static_cast<int>(rng() % 3));  // exact roots
    for (double& v : c.values()) v = static_cast<double>(static_cast<int>(rng() % 17) - 8);
    for (double& v : start.values()) v = static_cast<double>(rng() % 2);
    NnlsStats fast_stats, reference_stats;
    const DenseMatrix fast = bpp(g, c, start, &fast_stats);
    const DenseMatrix reference = reference_bpp(g, c, start, &reference_stats);
    ASSERT_EQ(fast.values(), reference.values()) << "problem " << problem;
    EXPECT_EQ(fast_stats.pivot_rounds, reference_stats.pivot_rounds);
    EXPECT_EQ(fast_stats.factorizations, reference_stats.factorizations);
  }
}

namespace {

// C for the comparison below: random of one kind, with some columns copied (groups of columns sharing a passive
// set), some all zero, and -- for `degenerate` -- indices where both x and y of the solution are zero (ties).
DenseMatrix mixed_rhs(const DenseMatrix& g, index_t count, bool degenerate, std::mt19937_64& rng) {
  const index_t k = g.rows();
  DenseMatrix c = degenerate ? known_solution_problem(g, count, rng, 0.4, 0.3).rhs
                             : make_rhs(rng() % 2 ? RhsKind::image : RhsKind::uniform, g, count, rng);
  for (index_t j = 1; j < count; ++j) {
    const auto what = rng() % 8;
    if (what == 0) std::copy(c.col(j - 1), c.col(j - 1) + k, c.col(j));  // duplicate of its left neighbour
    if (what == 1) std::fill(c.col(j), c.col(j) + k, 0.0);
  }
  return c;
}

}  // namespace

TEST(BppNnlsFast, MatchesTheLapackReferenceTo1e12) {
  // The fast kernel solves small passive-set systems with its own Cholesky code (k <= 64) instead of LAPACK's
  // dpotrf/dpotrs/dgemm, so its round-off differs from the reference's; the NNLS solution of each column is unique
  // (G positive definite), so both must agree to round-off: 1e-12 relative per column, zero columns exactly. Cold
  // and warm starts, k = 1 to 100 (k > 64 takes the fast kernel's LAPACK path), mixed-sign and non-negative
  // Gram matrices, duplicated and zero right-hand sides, degenerate indices.
  std::mt19937_64 rng(223);
  const index_t count = 300;
  for (const index_t k : {1, 2, 3, 5, 8, 13, 20, 32, 40, 64, 65, 100}) {
    for (int problem = 0; problem < 6; ++problem) {
      const GramKind gk = problem % 2 == 0 ? GramKind::mixed : GramKind::nonnegative;
      const bool degenerate = problem >= 4;
      SCOPED_TRACE(::testing::Message() << "k " << k << ", problem " << problem);
      const DenseMatrix g = make_gram(gk, k, rng);
      const DenseMatrix c = mixed_rhs(g, count, degenerate, rng);
      DenseMatrix warm = reference_bpp(g, c, DenseMatrix(k, count));
      // A warm start as in alternating NNLS: the previous solution with a few entries switched on or off.
      for (double& v : warm.values()) {
        if (rng() % 10 == 0) v = v > 0.0 ? 0.0 : 1.0;
      }
      for (const DenseMatrix& from : {DenseMatrix(k, count), warm, random_dense(k, count, rng, 0.0, 1.0)}) {
        NnlsStats fast_stats, reference_stats;
        const DenseMatrix fast = bpp(g, c, from, &fast_stats);
        const DenseMatrix reference = reference_bpp(g, c, from, &reference_stats);
        EXPECT_EQ(fast_stats.unconverged, 0);
        EXPECT_EQ(reference_stats.unconverged, 0);
        ASSERT_TRUE(columns_match(fast, reference, 1e-12));
      }
    }
  }
}