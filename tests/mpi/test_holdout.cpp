// The masked (held-out) path: the training loss leaves the held-out entries out exactly, the held-out error
// is measured on them alone, and the runs agree across rank counts and grids like the unmasked ones.
#include <gtest/gtest.h>

#include <cmath>

#include "nmf/driver/factorization.hpp"
#include "nmf/io/input.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/random.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

struct MaskedRun {
  FactorizationResult result;
  DenseMatrix a, s;
};

MaskedRun run_masked(MPI_Comm comm, GridShape shape, InputSource& source, const std::string& algo, int k,
                     int iterations, const HoldOutSpec& spec) {
  const ProcessGrid grid(comm, shape);
  const DistMatrix x = source.distribute(grid);
  const std::unique_ptr<Loss> loss = make_held_out_loss(x, grid, spec);
  SolverParams params;
  params.k = k;
  auto solver = make_solver(algo, params);
  StopRules rules;
  rules.push_back(std::make_unique<MaxIterations>(iterations));
  DriverOptions options;
  options.loss = loss.get();
  AlternatingFactorization driver(grid, x, *solver, options);
  MaskedRun run;
  run.result = driver.run(random_factors(x, grid, k, 5), rules, nullptr);
  gather_factors(grid, x.layout, run.result.factors, run.a, run.s);
  return run;
}

bool held_out(const HoldOutSpec& spec, index_t i, index_t j, index_t m) {
  return uniform01(spec.seed, RandomStream::holdout, static_cast<std::uint64_t>(i * m + j),
                   static_cast<std::uint32_t>(spec.fold)) < spec.fraction;
}

TEST(HeldOut, TrainingAndHeldOutErrorsAreThoseOfTheMask) {
  const DenseMatrix full = random_matrix(36, 28, 0.6, 51);
  auto source = dense_in_memory(full, "test", false);
  const HoldOutSpec spec{0.15, 9, 2};
  for (const char* algo : {"hals", "als"}) {
    SCOPED_TRACE(algo);
    const MaskedRun run = run_masked(MPI_COMM_WORLD, all_grid_shapes(world_size()).back(), *source, algo, 4, 12, spec);
    DenseMatrix product;
    multiply(run.a, run.s, product);
    double train_res = 0, train_norm = 0, test_res = 0, test_norm = 0;
    index_t test_count = 0;
    for (index_t j = 0; j < full.cols(); ++j) {
      for (index_t i = 0; i < full.rows(); ++i) {
        const double r = full(i, j) - product(i, j);
        if (held_out(spec, i, j, full.cols())) {
          test_res += r * r;
          test_norm += full(i, j) * full(i, j);
          ++test_count;
        } else {
          train_res += r * r;
          train_norm += full(i, j) * full(i, j);
        }
      }
    }
    ASSERT_GT(test_count, 0);
    EXPECT_NEAR(run.result.relative_error, std::sqrt(train_res / train_norm), 1e-10);
    EXPECT_NEAR(run.result.heldout_error, std::sqrt(test_res / test_norm), 1e-10);
    EXPECT_NEAR(run.result.objective, 0.5 * train_res, 1e-10 * train_res);
  }
}

TEST(HeldOut, MaskedUpdatesSolveTheMaskedLeastSquaresProblem) {
  // One ALS update of S with A fixed must give, column by column, the clamped solution of the normal
  // equations over the training rows only: check the first iteration's S against that reference. With
  // iterations = 1 the S update uses the initial A.
  const DenseMatrix full = random_matrix(30, 12, 0.8, 52);
  auto source = dense_in_memory(full, "test", false);
  const HoldOutSpec spec{0.2, 3, 0};
  const int k = 3;
  const ProcessGrid self_grid(MPI_COMM_SELF, GridShape{1, 1});
  const DistMatrix x_self = source->distribute(self_grid);
  const Factors initial = random_factors(x_self, self_grid, k, 5);
  DenseMatrix a0(30, k);
  for (index_t r = 0; r < 30; ++r)
    for (index_t c = 0; c < k; ++c) a0(r, c) = initial.a_t(c, r);
  const MaskedRun run = run_masked(MPI_COMM_WORLD, all_grid_shapes(world_size()).front(), *source, "als", k, 1, spec);
  for (index_t j = 0; j < full.cols(); ++j) {
    DenseMatrix gram_j(k, k), rhs(k, 1);
    for (index_t i = 0; i < full.rows(); ++i) {
      if (held_out(spec, i, j, full.cols())) continue;
      for (index_t p = 0; p < k; ++p) {
        rhs(p, 0) += a0(i, p) * full(i, j);
        for (index_t q = 0; q < k; ++q) gram_j(p, q) += a0(i, p) * a0(i, q);
      }
    }
    cholesky_solve(gram_j, rhs);
    // run.s is after the A update too, which does not change S: compare directly.
    for (index_t p = 0; p < k; ++p) EXPECT_NEAR(run.s(p, j), std::max(rhs(p, 0), 0.0), 1e-9) << "column " << j;
  }
}

TEST(HeldOut, RunsAgreeAcrossRankCountsAndGrids) {
  const DenseMatrix full = random_matrix(40, 32, 0.5, 53);
  auto source = dense_in_memory(full, "test", false);
  const HoldOutSpec spec{0.1, 4, 1};
  for (const char* algo : {"hals", "als"}) {
    const MaskedRun reference = run_masked(MPI_COMM_SELF, GridShape{1, 1}, *source, algo, 4, 10, spec);
    for (const GridShape shape : all_grid_shapes(world_size())) {
      SCOPED_TRACE(std::string(algo) + " on grid " + shape.str());
      const MaskedRun run = run_masked(MPI_COMM_WORLD, shape, *source, algo, 4, 10, spec);
      EXPECT_NEAR(run.result.relative_error, reference.result.relative_error, 1e-8 * reference.result.relative_error);
      EXPECT_NEAR(run.result.heldout_error, reference.result.heldout_error, 1e-8 * reference.result.heldout_error);
    }
  }
}

TEST(HeldOut, HalsNeverIncreasesTheTrainingObjective) {
  const DenseMatrix full = random_matrix(40, 30, 0.5, 54);
  auto source = dense_in_memory(full, "test", false);
  const MaskedRun run =
      run_masked(MPI_COMM_WORLD, all_grid_shapes(world_size()).front(), *source, "hals", 4, 20, HoldOutSpec{0.1, 2, 0});
  for (std::size_t t = 1; t < run.result.history.size(); ++t)
    EXPECT_LE(run.result.history[t].objective, run.result.history[t - 1].objective * (1 + 1e-12)) << t;
}

TEST(HeldOut, SolversWithoutAMaskedPathAreRefused) {
  const DenseMatrix full = random_matrix(20, 16, 0.5, 55);
  auto source = dense_in_memory(full, "test", false);
  EXPECT_THROW(
      run_masked(MPI_COMM_WORLD, all_grid_shapes(world_size()).front(), *source, "bpp", 3, 2, HoldOutSpec{0.1, 1, 0}),
      UsageError);
}

}  // namespace
}  // namespace nmf::test
