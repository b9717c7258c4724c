// ALS's --ls qr against --ls normal on an ill-conditioned problem: A's first two columns nearly parallel, so
// cond(A) is about 1e7. X = A S exactly, with A, S > 0, so one ALS iteration from the true A should return the true
// S and then the true A (the projection onto >= 0 is inactive). The normal equations square the condition number:
// their forward error is about cond(A)^2 eps ~ 1e-2 (or a ridge takes over); the QR route's about cond(A) eps ~ 1e-9.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "nmf/driver/factorization.hpp"
#include "nmf/io/input.hpp"
#include "test_util.hpp"

extern "C" void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* lda,
                        double* s, double* u, const int* ldu, double* vt, const int* ldvt, double* work,
                        const int* lwork, int* info);

namespace nmf::test {
namespace {

constexpr index_t kRows = 80, kCols = 50;
constexpr int kRank = 3;

double condition_number(DenseMatrix a) {
  const int n = static_cast<int>(a.rows()), m = static_cast<int>(a.cols()), one = 1;
  std::vector<double> sigma(static_cast<std::size_t>(m)), work(1000);
  int lwork = 1000, info = 0;
  dgesvd_("N", "N", &n, &m, a.data(), &n, sigma.data(), nullptr, &one, nullptr, &one, work.data(), &lwork, &info);
  return sigma.front() / sigma.back();
}

double relative_difference(const DenseMatrix& a, const DenseMatrix& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.values().size(); ++i) {
    diff += (a.values()[i] - b.values()[i]) * (a.values()[i] - b.values()[i]);
    norm += b.values()[i] * b.values()[i];
  }
  return std::sqrt(diff / norm);
}

struct Planted {
  DenseMatrix a, s, x;
};

Planted ill_conditioned_problem() {
  Planted p{random_matrix(kRows, kRank, 1.0, 31), random_matrix(kRank, kCols, 1.0, 32), DenseMatrix(kRows, kCols)};
  const DenseMatrix direction = random_matrix(kRows, 1, 1.0, 33);
  for (index_t i = 0; i < kRows; ++i) p.a(i, 1) = p.a(i, 0) + 3e-7 * direction(i, 0);  // nearly parallel
  for (index_t j = 0; j < kCols; ++j)
    for (index_t i = 0; i < kRows; ++i)
      for (index_t q = 0; q < kRank; ++q) p.x(i, j) += p.a(i, q) * p.s(q, j);
  return p;
}

// This rank's slices of the gathered A and S.
Factors slices_of(const Layout& layout, const ProcessGrid& grid, const DenseMatrix& a, const DenseMatrix& s) {
  const int a_slice = layout.a_slice_of(grid.row(), grid.col()), s_slice = layout.s_slice_of(grid.row(), grid.col());
  Factors f{DenseMatrix(kRank, layout.a_slices.size(a_slice)), DenseMatrix(kRank, layout.s_slices.size(s_slice))};
  for (index_t r = 0; r < f.a_t.cols(); ++r)
    for (index_t q = 0; q < kRank; ++q) f.a_t(q, r) = a(layout.a_slices.begin(a_slice) + r, q);
  for (index_t j = 0; j < f.s.cols(); ++j)
    for (index_t q = 0; q < kRank; ++q) f.s(q, j) = s(q, layout.s_slices.begin(s_slice) + j);
  return f;
}

struct Errors {
  double a = 0, s = 0;
};

Errors one_iteration(const ProcessGrid& grid, const DistMatrix& x, const Planted& p, const std::string& ls) {
  SolverParams params;
  params.k = kRank;
  params.options["ls"] = ls;
  auto solver = make_solver("als", params);
  StopRules rules;
  rules.push_back(std::make_unique<MaxIterations>(1));
  AlternatingFactorization driver(grid, x, *solver);
  const DenseMatrix start_s(kRank, kCols, 1.0);  // replaced by the first update
  const FactorizationResult result = driver.run(slices_of(x.layout, grid, p.a, start_s), rules, nullptr);
  DenseMatrix a, s;
  gather_factors(grid, x.layout, result.factors, a, s);
  return {relative_difference(a, p.a), relative_difference(s, p.s)};
}

TEST(LeastSquaresQr, StaysAccurateWhereTheNormalEquationsDoNot) {
  const Planted p = ill_conditioned_problem();
  const double cond = condition_number(p.a);
  ASSERT_GT(cond, 1e6);
  ASSERT_LT(cond, 1e8);
  auto source = dense_in_memory(p.x, "ill-conditioned", false);
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    const DistMatrix x = source->distribute(grid);
    const Errors normal = one_iteration(grid, x, p, "normal"), qr = one_iteration(grid, x, p, "qr");
    if (world_rank() == 0)
      std::printf(
          "cond(A) = %.3g, grid %s: relative error of S, A after one iteration: --ls normal %.3g, %.3g; "
          "--ls qr %.3g, %.3g\n",
          cond, shape.str().c_str(), normal.s, normal.a, qr.s, qr.a);
    EXPECT_LT(qr.s, 1e-6);
    EXPECT_LT(qr.a, 1e-6);
    EXPECT_GT(normal.s, 1e-4);
  }
}

}  // namespace
}  // namespace nmf::test
