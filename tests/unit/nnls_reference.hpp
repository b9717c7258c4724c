// Reference arithmetic for non-negative least-squares subproblems, shared by the NNLS and solver tests:
// the KKT conditions, the subproblem objective, problems with a known solution and an exact NNLS solver
// by enumeration of passive sets. Everything here is naive loops in long double, independent of the
// BLAS/LAPACK code under test.
//
// The subproblem, per column j:  minimize 1/2 x^T G x - c_j^T x  subject to x >= 0  (G symmetric positive
// definite). x is optimal if and only if (KKT)  x >= 0,  y = G x - c_j >= 0,  x_i y_i = 0 for every i.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "dense_helpers.hpp"

namespace nmf::test {

// The largest |entry| of column j.
inline double column_max_abs(const DenseMatrix& a, index_t j) {
  double m = 0.0;
  for (index_t i = 0; i < a.rows(); ++i) m = std::max(m, std::abs(a(i, j)));
  return m;
}

// y = G x - c for column j of x and c, in long double.
inline std::vector<long double> dual(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& x, index_t j) {
  std::vector<long double> y(static_cast<std::size_t>(g.rows()));
  for (index_t i = 0; i < g.rows(); ++i) {
    long double sum = -static_cast<long double>(c(i, j));
    for (index_t p = 0; p < g.rows(); ++p) sum += static_cast<long double>(g(i, p)) * x(p, j);
    y[static_cast<std::size_t>(i)] = sum;
  }
  return y;
}

// The scale of y = G x - c in column j: max_i |c_ij| + max_i (|G| |x_j|)_i, the size of the terms whose
// sum is y. A solver working in double cannot get y closer to its exact value than a small multiple of
// machine epsilon times this (the terms are rounded before they cancel), so "y_i >= -tol * scale" is the
// strictest meaningful form of "y_i >= 0". It does not depend on how x or c are normalised.
inline double dual_scale(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& x, index_t j) {
  double largest_term = 0.0;
  for (index_t i = 0; i < g.rows(); ++i) {
    double sum = 0.0;
    for (index_t p = 0; p < g.rows(); ++p) sum += std::abs(g(i, p)) * std::abs(x(p, j));
    largest_term = std::max(largest_term, sum);
  }
  return column_max_abs(c, j) + largest_term;
}

// Checks the KKT conditions of every column with relative tolerance `tol`:
//   x_i >= 0 exactly (a solver that projects has no excuse for a negative entry),
//   y_i >= -tol * yscale_j,
//   |x_i y_i| <= tol * xscale_j * yscale_j,
// with yscale_j = dual_scale (above) and xscale_j = max_i |x_ij|: complementarity compares the product of
// x and y with the product of their natural sizes, so it is invariant under scaling G, c or x. (When G is
// normalised so that ||G|| ~ 1, both scales are the size of c and the bound is tol * scale^2.)
inline ::testing::AssertionResult satisfies_kkt(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& x,
                                                double tol) {
  if (x.rows() != g.rows() || x.cols() != c.cols() || c.rows() != g.rows())
    return ::testing::AssertionFailure() << "shapes differ";
  for (index_t j = 0; j < x.cols(); ++j) {
    const std::vector<long double> y = dual(g, c, x, j);
    const double yscale = dual_scale(g, c, x, j);
    const double xscale = column_max_abs(x, j);
    for (index_t i = 0; i < x.rows(); ++i) {
      const long double yi = y[static_cast<std::size_t>(i)];
      if (!(x(i, j) >= 0.0)) return ::testing::AssertionFailure() << "x(" << i << ", " << j << ") = " << x(i, j);
      if (!(yi >= -tol * yscale))
        return ::testing::AssertionFailure()
               << "y(" << i << ", " << j << ") = " << static_cast<double>(yi) << " < -" << tol << " * " << yscale;
      if (!(std::abs(x(i, j) * yi) <= tol * xscale * yscale))
        return ::testing::AssertionFailure()
               << "complementarity at (" << i << ", " << j << "): x = " << x(i, j)
               << ", y = " << static_cast<double>(yi) << ", xscale = " << xscale << ", yscale = " << yscale;
    }
  }
  return ::testing::AssertionSuccess();
}

// Column by column: max_i |a_ij - e_ij| <= relative * max(max_i |a_ij|, max_i |e_ij|). A column whose
// expected value is zero must therefore come out exactly zero.
inline ::testing::AssertionResult columns_match(const DenseMatrix& actual, const DenseMatrix& expected,
                                                double relative) {
  if (actual.rows() != expected.rows() || actual.cols() != expected.cols())
    return ::testing::AssertionFailure() << "shapes differ: " << actual.rows() << " x " << actual.cols() << " and "
                                         << expected.rows() << " x " << expected.cols();
  for (index_t j = 0; j < expected.cols(); ++j) {
    const double scale = std::max(column_max_abs(actual, j), column_max_abs(expected, j));
    for (index_t i = 0; i < expected.rows(); ++i) {
      const double difference = std::abs(actual(i, j) - expected(i, j));
      if (!(difference <= relative * scale))
        return ::testing::AssertionFailure() << "(" << i << ", " << j << "): " << actual(i, j) << " vs expected "
                                             << expected(i, j) << ", column scale " << scale;
    }
  }
  return ::testing::AssertionSuccess();
}

// 1/2 f^T G f - c^T f for column j, in long double.
inline long double subproblem_objective(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& f, index_t j) {
  long double value = 0.0L;
  for (index_t i = 0; i < g.rows(); ++i) {
    long double gf = 0.0L;
    for (index_t p = 0; p < g.rows(); ++p) gf += static_cast<long double>(g(i, p)) * f(p, j);
    value += 0.5L * f(i, j) * gf - static_cast<long double>(c(i, j)) * f(i, j);
  }
  return value;
}

// 1/2 |f|^T |G| |f| + |c|^T |f|: the size of the terms of the objective, which bounds the round-off a
// double-precision update can leave in it.
inline double objective_scale(const DenseMatrix& g, const DenseMatrix& c, const DenseMatrix& f, index_t j) {
  double value = 0.0;
  for (index_t i = 0; i < g.rows(); ++i) {
    double gf = 0.0;
    for (index_t p = 0; p < g.rows(); ++p) gf += std::abs(g(i, p)) * std::abs(f(p, j));
    value += 0.5 * std::abs(f(i, j)) * gf + std::abs(c(i, j)) * std::abs(f(i, j));
  }
  return value;
}

// C = G X* - Y* for complementary X*, Y* >= 0 (X*_ij Y*_ij = 0), so that X* is the NNLS solution by the
// KKT conditions. Each entry is positive in X* with probability `p_primal`, else positive in Y* with
// probability `p_dual` / (1 - p_primal), else zero in both: a degenerate index (x_i = 0 = y_i).
struct KnownSolution {
  DenseMatrix rhs, solution;
};

inline KnownSolution known_solution_problem(const DenseMatrix& g, index_t count, std::mt19937_64& rng, double p_primal,
                                            double p_dual) {
  const index_t k = g.rows();
  std::uniform_real_distribution<double> unit(0.0, 1.0), magnitude(0.5, 2.0);
  DenseMatrix x(k, count), y(k, count);
  for (index_t j = 0; j < count; ++j) {
    for (index_t i = 0; i < k; ++i) {
      const double u = unit(rng);
      if (u < p_primal)
        x(i, j) = magnitude(rng);
      else if (u < p_primal + p_dual)
        y(i, j) = magnitude(rng);
    }
  }
  DenseMatrix c = times(g, x);
  for (index_t i = 0; i < c.size(); ++i) c.values()[static_cast<std::size_t>(i)] -= y.values()[i];
  return {c, x};
}

// The exact NNLS solution by enumeration (k <= ~10): for every passive set F of the 2^k, solve
// G_FF x_F = c_F (Gaussian elimination in long double), set x = 0 off F and measure how far that point is
// from satisfying the KKT conditions (the largest of -x_i / max|x| and -y_i / dual scale). The optimum is
// unique for SPD G and satisfies them exactly, so the passive set with the smallest violation is the
// solution's; `worst_violation` receives the largest such smallest violation over the columns (a sanity
// check on the reference itself: round-off only).
inline DenseMatrix reference_nnls(const DenseMatrix& g, const DenseMatrix& c, double* worst_violation = nullptr) {
  const index_t k = g.rows(), count = c.cols();
  DenseMatrix best(k, count);
  std::vector<double> best_violation(static_cast<std::size_t>(count), std::numeric_limits<double>::infinity());
  for (std::uint64_t mask = 0; mask < (std::uint64_t{1} << k); ++mask) {
    std::vector<index_t> passive;
    for (index_t i = 0; i < k; ++i)
      if ((mask >> i) & 1u) passive.push_back(i);
    const index_t nf = static_cast<index_t>(passive.size());
    DenseMatrix g_ff(nf, nf), c_f(nf, count);
    for (index_t q = 0; q < nf; ++q)
      for (index_t p = 0; p < nf; ++p) g_ff(p, q) = g(passive[p], passive[q]);
    for (index_t j = 0; j < count; ++j)
      for (index_t p = 0; p < nf; ++p) c_f(p, j) = c(passive[p], j);
    const std::vector<long double> x_f = nf > 0 ? solve_long(g_ff, c_f) : std::vector<long double>{};
    for (index_t j = 0; j < count; ++j) {
      std::vector<long double> x(static_cast<std::size_t>(k), 0.0L);
      long double xscale = 0.0L;
      for (index_t p = 0; p < nf; ++p) {
        x[static_cast<std::size_t>(passive[p])] = x_f[static_cast<std::size_t>(p + j * nf)];
        xscale = std::max(xscale, std::abs(x_f[static_cast<std::size_t>(p + j * nf)]));
      }
      long double yscale = 0.0L, violation = 0.0L;
      std::vector<long double> y(static_cast<std::size_t>(k));
      for (index_t i = 0; i < k; ++i) {
        long double sum = -static_cast<long double>(c(i, j)), terms = 0.0L;
        for (index_t p = 0; p < k; ++p) {
          sum += g(i, p) * x[static_cast<std::size_t>(p)];
          terms += std::abs(g(i, p) * x[static_cast<std::size_t>(p)]);
        }
        y[static_cast<std::size_t>(i)] = sum;
        yscale = std::max(yscale, terms);
      }
      for (index_t i = 0; i < k; ++i) yscale = std::max(yscale, static_cast<long double>(std::abs(c(i, j))));
      for (index_t i = 0; i < k; ++i) {
        if ((mask >> i) & 1u) {
          if (xscale > 0.0L) violation = std::max(violation, -x[static_cast<std::size_t>(i)] / xscale);
        } else if (yscale > 0.0L) {
          violation = std::max(violation, -y[static_cast<std::size_t>(i)] / yscale);
        }
      }
      if (violation < best_violation[static_cast<std::size_t>(j)]) {
        best_violation[static_cast<std::size_t>(j)] = static_cast<double>(violation);
        for (index_t i = 0; i < k; ++i) best(i, j) = std::max(0.0, static_cast<double>(x[static_cast<std::size_t>(i)]));
      }
    }
  }
  if (worst_violation)
    *worst_violation = count > 0 ? *std::max_element(best_violation.begin(), best_violation.end()) : 0.0;
  return best;
}

}  // namespace nmf::test
