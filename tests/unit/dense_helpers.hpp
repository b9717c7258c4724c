// Small dense-matrix helpers shared by the unit tests: random inputs and naive reference arithmetic.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "nmf/matrix.hpp"

namespace nmf::test {

inline DenseMatrix random_dense(index_t rows, index_t cols, std::mt19937_64& rng, double low = 0.0, double high = 1.0) {
  std::uniform_real_distribution<double> value(low, high);
  DenseMatrix a(rows, cols);
  for (double& v : a.values()) v = value(rng);
  return a;
}

// a * b by the textbook triple loop.
inline DenseMatrix times(const DenseMatrix& a, const DenseMatrix& b) {
  DenseMatrix c(a.rows(), b.cols());
  for (index_t i = 0; i < a.rows(); ++i)
    for (index_t j = 0; j < b.cols(); ++j)
      for (index_t l = 0; l < a.cols(); ++l) c(i, j) += a(i, l) * b(l, j);
  return c;
}

inline double max_abs(const DenseMatrix& a) {
  double m = 0.0;
  for (double v : a.values()) m = std::max(m, std::abs(v));
  return m;
}

inline DenseMatrix transposed(const DenseMatrix& a) {
  DenseMatrix t(a.cols(), a.rows());
  for (index_t j = 0; j < a.cols(); ++j)
    for (index_t i = 0; i < a.rows(); ++i) t(j, i) = a(i, j);
  return t;
}

// W W^T by the textbook triple loop.
inline DenseMatrix gram_of(const DenseMatrix& w) {
  DenseMatrix g(w.rows(), w.rows());
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.rows(); ++j)
      for (index_t l = 0; l < w.cols(); ++l) g(i, j) += w(i, l) * w(j, l);
  return g;
}

// gram = W W^T for a random W (k x 3k, entries uniform in [low, high)): symmetric positive definite and
// reasonably conditioned (condition number below a few thousand for k <= 65). With low >= 0 every entry of the
// Gram matrix is non-negative, as for the Gram matrix of a non-negative factor.
inline DenseMatrix random_gram(index_t k, std::mt19937_64& rng, double low = 0.0, double high = 1.0) {
  return gram_of(random_dense(k, 3 * k, rng, low, high));
}

// Solves a y = b (a square, b with any number of columns) by Gaussian elimination with partial pivoting in
// long double, independent of the BLAS/LAPACK code under test. Column-major n x b.cols() result.
inline std::vector<long double> solve_long(const DenseMatrix& a, const DenseMatrix& b) {
  const index_t n = a.rows(), m = b.cols();
  std::vector<long double> lu(static_cast<std::size_t>(n * n)), y(static_cast<std::size_t>(n * m));
  for (index_t j = 0; j < n; ++j)
    for (index_t i = 0; i < n; ++i) lu[static_cast<std::size_t>(i + j * n)] = a(i, j);
  for (index_t j = 0; j < m; ++j)
    for (index_t i = 0; i < n; ++i) y[static_cast<std::size_t>(i + j * n)] = b(i, j);
  auto at = [n](std::vector<long double>& v, index_t i, index_t j) -> long double& {
    return v[static_cast<std::size_t>(i + j * n)];
  };
  for (index_t p = 0; p < n; ++p) {
    index_t pivot = p;
    for (index_t i = p + 1; i < n; ++i)
      if (std::abs(at(lu, i, p)) > std::abs(at(lu, pivot, p))) pivot = i;
    if (at(lu, pivot, p) == 0.0L) throw std::runtime_error("solve_long: singular matrix");
    for (index_t j = 0; j < n; ++j) std::swap(at(lu, p, j), at(lu, pivot, j));
    for (index_t j = 0; j < m; ++j) std::swap(at(y, p, j), at(y, pivot, j));
    for (index_t i = p + 1; i < n; ++i) {
      const long double factor = at(lu, i, p) / at(lu, p, p);
      for (index_t j = p; j < n; ++j) at(lu, i, j) -= factor * at(lu, p, j);
      for (index_t j = 0; j < m; ++j) at(y, i, j) -= factor * at(y, p, j);
    }
  }
  for (index_t j = 0; j < m; ++j) {
    for (index_t i = n - 1; i >= 0; --i) {
      long double sum = at(y, i, j);
      for (index_t l = i + 1; l < n; ++l) sum -= at(lu, i, l) * at(y, l, j);
      at(y, i, j) = sum / at(lu, i, i);
    }
  }
  return y;
}

// The same, rounded to double.
inline DenseMatrix solve(const DenseMatrix& a, const DenseMatrix& b) {
  const std::vector<long double> y = solve_long(a, b);
  DenseMatrix out(a.rows(), b.cols());
  for (index_t i = 0; i < out.size(); ++i) out.values()[static_cast<std::size_t>(i)] = static_cast<double>(y[i]);
  return out;
}

}  // namespace nmf::test
