#include <gtest/gtest.h>

#include "dense_helpers.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "nmf/error.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/solvers/solver.hpp"

namespace {

using nmf::test::max_abs;
using nmf::test::random_dense;
using nmf::test::times;

using nmf::DenseMatrix;
using nmf::FactorSide;
using nmf::index_t;
using nmf::UpdateInputs;

// gram = W W^T for a random W (k x 3k): symmetric positive definite and reasonably conditioned.
DenseMatrix random_gram(index_t k, std::mt19937_64& rng) {
  const DenseMatrix w = random_dense(k, 3 * k, rng, 0.0, 1.0);
  DenseMatrix g(k, k);
  for (index_t i = 0; i < k; ++i)
    for (index_t j = 0; j < k; ++j)
      for (index_t l = 0; l < 3 * k; ++l) g(i, j) += w(i, l) * w(j, l);
  return g;
}

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

}  // namespace
