// Small dense-matrix helpers shared by the unit tests: random inputs and naive reference arithmetic.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>

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

}  // namespace nmf::test
