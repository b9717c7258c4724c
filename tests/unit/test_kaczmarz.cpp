// Projected randomized Kaczmarz steps: the single step is the projection onto one hyperplane followed by
// the projection onto u >= 0; steps converge to the solution of a consistent non-negative system, for single
// equations and blocks on either side of k; sparse and dense right-hand sides give the same iterates; the
// stream makes runs reproducible.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "dense_helpers.hpp"
#include "nmf/kernels/kaczmarz.hpp"

namespace {

using nmf::CompressedMatrix;
using nmf::DenseMatrix;
using nmf::index_t;
using nmf::KaczmarzRhs;
using nmf::KaczmarzSampling;
using nmf::KaczmarzStream;

// Right-hand sides rhs(r, c) = e_r^T u*_c of a consistent system, as the dense layout (ncols x neq).
DenseMatrix consistent_rhs(const DenseMatrix& equations, const DenseMatrix& solution) {
  return nmf::test::times(nmf::test::transposed(solution), equations);
}

double max_difference(const DenseMatrix& a, const DenseMatrix& b) {
  double d = 0.0;
  for (index_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a.data()[i] - b.data()[i]));
  return d;
}

TEST(KaczmarzStep, OneEquationProjectsOntoItsHyperplaneThenOntoTheOrthant) {
  // One equation e = (1, 2), rhs 4 for column 0 and -10 for column 1, from u = (1, 0) in both columns.
  DenseMatrix e(2, 1);
  e(0, 0) = 1;
  e(1, 0) = 2;
  DenseMatrix rhs(2, 1);  // ncols x neq
  rhs(0, 0) = 4;
  rhs(1, 0) = -10;
  DenseMatrix u(2, 2);
  u(0, 0) = u(0, 1) = 1;
  nmf::kaczmarz_steps(e, KaczmarzRhs{&rhs, nullptr}, u, 1, 1, KaczmarzSampling::norm, KaczmarzStream{7, 0, 1});
  // Column 0: u + (4 - 1) / 5 * e = (1.6, 1.2), already >= 0, and on the hyperplane e^T u = 4.
  EXPECT_DOUBLE_EQ(u(0, 0), 1.6);
  EXPECT_DOUBLE_EQ(u(1, 0), 1.2);
  // Column 1: u + (-10 - 1) / 5 * e = (-1.2, -4.4), projected to 0.
  EXPECT_EQ(u(0, 1), 0.0);
  EXPECT_EQ(u(1, 1), 0.0);
}

TEST(KaczmarzStep, ConvergesToTheSolutionOfAConsistentNonNegativeSystem) {
  std::mt19937_64 rng(3);
  const index_t k = 6, neq = 80, columns = 25;
  const DenseMatrix equations = nmf::test::random_dense(k, neq, rng);
  DenseMatrix solution = nmf::test::random_dense(k, columns, rng);
  for (index_t i = 0; i < solution.size(); i += 3) solution.data()[i] = 0.0;  // zeros: on the orthant's boundary
  const DenseMatrix rhs = consistent_rhs(equations, solution);
  for (const int block : {1, 3, 6, 15}) {
    for (const KaczmarzSampling sampling : {KaczmarzSampling::norm, KaczmarzSampling::uniform}) {
      DenseMatrix u(k, columns, 0.5);
      for (std::uint64_t round = 1; round <= 60; ++round)
        nmf::kaczmarz_steps(equations, KaczmarzRhs{&rhs, nullptr}, u, neq, block, sampling,
                            KaczmarzStream{1, 0, round});
      EXPECT_LT(max_difference(u, solution), 1e-8) << "block " << block;
      for (double v : u.values()) ASSERT_GE(v, 0.0);
    }
  }
}

TEST(KaczmarzStep, SparseRightHandSidesGiveExactlyTheDenseIterates) {
  std::mt19937_64 rng(4);
  const index_t k = 5, neq = 40, columns = 30;
  const DenseMatrix equations = nmf::test::random_dense(k, neq, rng);
  // Right-hand sides with many zeros, as a CSR matrix (rows = equations) and densely.
  DenseMatrix dense(columns, neq);
  nmf::TripletChunks chunks(1);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  for (index_t r = 0; r < neq; ++r)
    for (index_t c = 0; c < columns; ++c)
      if (coin(rng) < 0.2) {
        dense(c, r) = 1.0 + coin(rng);
        chunks[0].push_back({r, c, dense(c, r)});
      }
  index_t duplicates = 0;
  const CompressedMatrix sparse = nmf::compress_rows(neq, columns, std::move(chunks), duplicates);
  for (const int block : {1, 4, 9}) {
    DenseMatrix from_dense(k, columns, 0.3), from_sparse(k, columns, 0.3);
    const KaczmarzStream stream{11, 3, 2};
    nmf::kaczmarz_steps(equations, KaczmarzRhs{&dense, nullptr}, from_dense, 200, block, KaczmarzSampling::norm,
                        stream);
    nmf::kaczmarz_steps(equations, KaczmarzRhs{nullptr, &sparse}, from_sparse, 200, block, KaczmarzSampling::norm,
                        stream);
    EXPECT_LT(max_difference(from_dense, from_sparse), 1e-13) << "block " << block;
  }
}

TEST(KaczmarzStep, TheStreamDecidesTheIterates) {
  std::mt19937_64 rng(5);
  const index_t k = 4, neq = 50, columns = 10;
  const DenseMatrix equations = nmf::test::random_dense(k, neq, rng);
  const DenseMatrix rhs = nmf::test::random_dense(columns, neq, rng);
  auto run = [&](KaczmarzStream stream) {
    DenseMatrix u(k, columns, 0.2);
    nmf::kaczmarz_steps(equations, KaczmarzRhs{&rhs, nullptr}, u, 30, 1, KaczmarzSampling::norm, stream);
    return u;
  };
  EXPECT_EQ(run({1, 0, 1}).values(), run({1, 0, 1}).values());  // reproducible
  EXPECT_NE(run({1, 0, 1}).values(), run({1, 1, 1}).values());  // another lane (rank, side)
  EXPECT_NE(run({1, 0, 1}).values(), run({1, 0, 2}).values());  // another iteration
  EXPECT_NE(run({1, 0, 1}).values(), run({2, 0, 1}).values());  // another seed
}

TEST(KaczmarzStep, ZeroEquationsAreNeverDrawn) {
  // Two usable equations, 2 e_0 and 3 e_1 (orthogonal, different norms), among 18 zero ones (empty rows of A).
  // A drawn zero equation makes no move, so a draw of one would only show as a step not taken. With relaxation
  // 1/2 every step on usable equation i halves the residual of equation i alone (orthogonal equations, moves in
  // +e_i that stay inside the orthant), so after the steps equation i's residual is 2^-n_i of its start, where
  // n_i counts its draws: n_0 + n_1 must be every step. The zero equations' right-hand sides are huge, so that
  // any use of them would show as well.
  const index_t k = 3, neq = 20, columns = 4, steps = 16;
  const index_t first = 4, second = 13;
  DenseMatrix equations(k, neq);
  equations(0, first) = 2.0;
  equations(1, second) = 3.0;
  DenseMatrix rhs(columns, neq, 1e6);
  for (index_t c = 0; c < columns; ++c) {
    rhs(c, first) = 10.0 + static_cast<double>(c);
    rhs(c, second) = 7.0 + 2.0 * static_cast<double>(c);
  }
  const double start = 0.1;
  for (const KaczmarzSampling sampling : {KaczmarzSampling::norm, KaczmarzSampling::uniform}) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE(std::string(sampling == KaczmarzSampling::norm ? "norm" : "uniform") + " sampling, seed " +
                   std::to_string(seed));
      DenseMatrix u(k, columns, start);
      nmf::kaczmarz_steps(equations, KaczmarzRhs{&rhs, nullptr}, u, steps, 1, sampling, KaczmarzStream{seed, 0, 1},
                          0.5);
      double draws_total = 0.0;
      for (const index_t r : {first, second}) {
        const index_t q = r == first ? 0 : 1;
        const double weight = equations(q, r);
        double draws_column0 = 0.0;
        for (index_t c = 0; c < columns; ++c) {
          const double initial = rhs(c, r) - weight * start;
          const double now = rhs(c, r) - weight * u(q, c);
          ASSERT_GT(now, 0.0) << "equation " << r << " overshot";
          const double draws = std::log2(initial / now);
          EXPECT_NEAR(draws, std::round(draws), 1e-6) << "equation " << r << ", column " << c;
          if (c == 0) draws_column0 = std::round(draws);
          EXPECT_EQ(std::round(draws), draws_column0) << "a draw moves every column: equation " << r;
        }
        draws_total += draws_column0;
      }
      EXPECT_EQ(draws_total, static_cast<double>(steps)) << "a zero equation was drawn (a step was lost)";
      for (index_t c = 0; c < columns; ++c) EXPECT_EQ(u(2, c), start) << "no equation moves component 2";
    }
  }
}

TEST(KaczmarzStep, ZeroEquationsAreNeverDrawnIntoABlock) {
  // One usable equation among zero ones: a block can only ever hold that equation, so every block step is
  // the same as on the system that has only that equation. A zero equation in a block would change the step
  // (its huge right-hand side, or a singular block system).
  const index_t k = 3, neq = 12, columns = 5, usable = 7;
  std::mt19937_64 rng(8);
  const DenseMatrix e = nmf::test::random_dense(k, 1, rng, 0.5, 1.0);
  DenseMatrix equations(k, neq), alone(k, 1);
  for (index_t q = 0; q < k; ++q) equations(q, usable) = alone(q, 0) = e(q, 0);
  DenseMatrix rhs(columns, neq, 1e6), rhs_alone(columns, 1);
  for (index_t c = 0; c < columns; ++c) rhs(c, usable) = rhs_alone(c, 0) = 5.0 + static_cast<double>(c);
  for (const KaczmarzSampling sampling : {KaczmarzSampling::norm, KaczmarzSampling::uniform}) {
    for (const int block : {2, 5}) {
      DenseMatrix u(k, columns, 0.1), u_alone(k, columns, 0.1);
      nmf::kaczmarz_steps(equations, KaczmarzRhs{&rhs, nullptr}, u, 20, block, sampling, KaczmarzStream{3, 0, 1}, 0.5);
      nmf::kaczmarz_steps(alone, KaczmarzRhs{&rhs_alone, nullptr}, u_alone, 20, block, sampling,
                          KaczmarzStream{3, 0, 1}, 0.5);
      EXPECT_NE(u.values(), DenseMatrix(k, columns, 0.1).values()) << "block " << block << ": no step was taken";
      EXPECT_EQ(u.values(), u_alone.values()) << "block " << block;
    }
  }
}

TEST(KaczmarzStep, ZeroEquationsGiveNoNaN) {
  // Half the equations are zero (an empty row of A): nothing may become NaN, whatever the sampling and block.
  std::mt19937_64 rng(6);
  const index_t k = 3, neq = 20, columns = 7;
  DenseMatrix equations = nmf::test::random_dense(k, neq, rng);
  for (index_t r = 0; r < neq; r += 2)
    for (index_t q = 0; q < k; ++q) equations(q, r) = 0.0;
  const DenseMatrix rhs = nmf::test::random_dense(columns, neq, rng);
  for (const KaczmarzSampling sampling : {KaczmarzSampling::norm, KaczmarzSampling::uniform}) {
    for (const int block : {1, 2, 5}) {
      DenseMatrix u(k, columns, 0.1);
      nmf::kaczmarz_steps(equations, KaczmarzRhs{&rhs, nullptr}, u, 100, block, sampling, KaczmarzStream{3, 0, 1});
      for (double v : u.values()) ASSERT_TRUE(std::isfinite(v) && v >= 0.0);
      EXPECT_NE(u.values(), DenseMatrix(k, columns, 0.1).values()) << "block " << block << ": no step was taken";
    }
  }
  DenseMatrix zero_equations(k, neq), u(k, columns, 0.1);
  nmf::kaczmarz_steps(zero_equations, KaczmarzRhs{&rhs, nullptr}, u, 10, 1, KaczmarzSampling::norm, {});
  EXPECT_EQ(u.values(), DenseMatrix(k, columns, 0.1).values());  // nothing to learn from: unchanged
}

// The problem of `equations` (k x neq) and `unknowns` (k x columns) with zero rows appended up to `rows`: the
// same equations, norms and dot products, with unknowns that can never move.
DenseMatrix padded(const DenseMatrix& m, index_t rows) {
  DenseMatrix p(rows, m.cols());
  for (index_t j = 0; j < m.cols(); ++j)
    for (index_t q = 0; q < m.rows(); ++q) p(q, j) = m(q, j);
  return p;
}

TEST(KaczmarzStep, SpecializedAndGenericStepsAgree) {
  // k <= 32 takes the k-specialized single step, k = 33 the generic one. The same problem padded with zero rows
  // to k = 33 has the same equation norms, draws and dot products (the extra terms are 0 * 0), so the generic
  // step must give the specialized step's iterates in the first k rows, to round-off, and zeros below.
  for (const index_t k : {1, 5, 31, 32}) {
    SCOPED_TRACE("k " + std::to_string(k));
    std::mt19937_64 rng(static_cast<std::uint64_t>(k));
    const index_t neq = 4 * k + 4, columns = 3;
    const DenseMatrix equations = nmf::test::random_dense(k, neq, rng);
    const DenseMatrix solution = nmf::test::random_dense(k, columns, rng);
    const DenseMatrix rhs = consistent_rhs(equations, solution);
    const DenseMatrix equations_33 = padded(equations, 33);
    DenseMatrix specialized(k, columns, 0.5), generic = padded(DenseMatrix(k, columns, 0.5), 33);
    for (std::uint64_t round = 1; round <= 20; ++round) {
      nmf::kaczmarz_steps(equations, KaczmarzRhs{&rhs, nullptr}, specialized, neq, 1, KaczmarzSampling::norm,
                          {9, 0, round});
      nmf::kaczmarz_steps(equations_33, KaczmarzRhs{&rhs, nullptr}, generic, neq, 1, KaczmarzSampling::norm,
                          {9, 0, round});
    }
    ASSERT_NE(specialized.values(), DenseMatrix(k, columns, 0.5).values());  // the steps moved
    double difference = 0.0;
    for (index_t c = 0; c < columns; ++c) {
      for (index_t q = 0; q < k; ++q) difference = std::max(difference, std::abs(specialized(q, c) - generic(q, c)));
      for (index_t q = k; q < 33; ++q) EXPECT_EQ(generic(q, c), 0.0);
    }
    EXPECT_LE(difference, 1e-14 * nmf::test::max_abs(specialized));
  }
}

TEST(KaczmarzStep, SpecializedAndGenericStepsBothSolve) {
  // Either side of the dispatch converges to the solution of a consistent system.
  for (const index_t k : {31, 32, 33}) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(k));
    const DenseMatrix equations = nmf::test::random_dense(k, 4 * k, rng);
    const DenseMatrix solution = nmf::test::random_dense(k, 3, rng);
    const DenseMatrix rhs = consistent_rhs(equations, solution);
    DenseMatrix u(k, 3, 0.5);
    for (std::uint64_t round = 1; round <= 300; ++round)
      nmf::kaczmarz_steps(equations, KaczmarzRhs{&rhs, nullptr}, u, 4 * k, 1, KaczmarzSampling::norm, {9, 0, round});
    EXPECT_LT(max_difference(u, solution), 1e-6) << "k " << k;
  }
}

}  // namespace
