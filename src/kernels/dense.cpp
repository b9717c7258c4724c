#include "nmf/kernels/dense.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "lapack.hpp"

namespace nmf {

void gram(const DenseMatrix& factor_t, DenseMatrix& out) {
  const int k = blas_int(factor_t.rows(), "k");
  const int count = blas_int(factor_t.cols(), "local factor length");
  out.resize(k, k);
  if (count > 0)
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, k, count, 1.0, factor_t.data(), factor_t.ld(), 0.0, out.data(),
                out.ld());
  for (index_t j = 0; j < k; ++j)
    for (index_t i = j + 1; i < k; ++i) out(i, j) = out(j, i);
}

// Both products have a short output dimension (k) and a long one, and BLAS can form either the product or its
// transpose. With OpenBLAS 0.3.21 on one thread the k x length orientation below was the fastest or within 2% of
// it on every shape measured (k = 20 and 50; X 4000 x 3000, 2000 x 3000, 10000 x 784): A^T X as
// dgemm(N, N) 17.4 ms against 21.1 ms for the transposed (X^T A^T)^T, S X^T as dgemm(N, T) 15.3 against
// 19.4 ms on 4000 x 3000, k = 20 (minimum of 75 timings each); and it writes the k x length result where it
// is kept, with no transposed intermediate. `scratch` is unused (kept for the callers' signature).
//
// A^T X is formed kColumnsPerProduct columns of X at a time. OpenBLAS packs the columns of X it multiplies into
// one buffer per block of GEMM_Q (256) rows: for the whole X at once that buffer is 256 x m doubles (6 MB for
// m = 3000), written once and read once per block, so every block's packed copy leaves the 1 MiB L2 cache for L3
// or memory. With 256 columns per call the buffer is 512 KiB and is reused at the same addresses, in L2; the
// price, packing the k x n left factor once per call, is small against X's n x 256 doubles. Each output column
// is summed over the same blocks of rows in the same order either way, so the result is bit-identical.
// Measured inside nmf_mpi (thread CPU time per product, bench/dgemm_cpu_timer.c, alternating with the one-call
// binary, load 10): 4000 x 3000, k = 20: 18.9-19.1 -> 16.1-17.3 ms. Standalone (bench/bench_dense_products.cpp):
// 19.0 -> 17.9 ms, 2000 x 3000 9.6 -> 8.6 ms (minima of 15), k = 50 and 100 8% less (medians). S X^T gains nothing
// from slices (its packing reads X across 256 columns at once, which slices do not change) and stays one call.
namespace {
constexpr index_t kColumnsPerProduct = 256;
}  // namespace

void multiply(const DenseMatrix& left, const DenseMatrix& x, DenseMatrix& out, DenseMatrix* /*scratch*/) {
  NMF_REQUIRE(left.cols() == x.rows(), Error, "multiply: inner dimensions differ");
  if (x.rows() == 0 || left.rows() == 0 || x.cols() == 0) {
    out.resize(left.rows(), x.cols());
    return;
  }
  out.reshape(left.rows(), x.cols());  // every entry is written (beta = 0)
  for (index_t first = 0; first < x.cols(); first += kColumnsPerProduct) {
    const index_t width = std::min(kColumnsPerProduct, x.cols() - first);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, blas_int(left.rows(), "k"), blas_int(width, "columns"),
                blas_int(x.rows(), "block rows"), 1.0, left.data(), left.ld(), x.col(first), x.ld(), 0.0,
                out.col(first), out.ld());
  }
}

void multiply_transposed(const DenseMatrix& left, const DenseMatrix& x, DenseMatrix& out, DenseMatrix* /*scratch*/) {
  NMF_REQUIRE(left.cols() == x.cols(), Error, "multiply_transposed: inner dimensions differ");
  if (x.cols() == 0 || left.rows() == 0 || x.rows() == 0) {
    out.resize(left.rows(), x.rows());
    return;
  }
  out.reshape(left.rows(), x.rows());  // every entry is written (beta = 0)
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, blas_int(left.rows(), "k"), blas_int(x.rows(), "block rows"),
              blas_int(x.cols(), "block columns"), 1.0, left.data(), left.ld(), x.data(), x.ld(), 0.0, out.data(),
              out.ld());
}

double frobenius_dot(const DenseMatrix& a, const DenseMatrix& b) {
  NMF_REQUIRE(a.rows() == b.rows() && a.cols() == b.cols(), Error, "frobenius_dot: shapes differ");
  double sum = 0.0;
  const double* pa = a.data();
  const double* pb = b.data();
  for (index_t i = 0; i < a.size(); ++i) sum += pa[i] * pb[i];
  return sum;
}

namespace {

// Cholesky factor (upper) of gram + ridge * I, or false if it is not positive definite or its reciprocal
// condition number is below `min_rcond`.
bool factor_well_conditioned(const DenseMatrix& gram, double ridge, double min_rcond, DenseMatrix& factor) {
  const int k = blas_int(gram.rows(), "k");
  factor = gram;
  for (index_t i = 0; i < k; ++i) factor(i, i) += ridge;
  std::vector<double> work(static_cast<std::size_t>(3 * k));
  std::vector<int> iwork(static_cast<std::size_t>(k));
  const double norm = dlansy_("1", "U", &k, factor.data(), &k, work.data());
  int info = 0;
  dpotrf_("U", &k, factor.data(), &k, &info);
  if (info != 0) return false;
  double rcond = 0.0;
  dpocon_("U", &k, factor.data(), &k, &norm, &rcond, work.data(), iwork.data(), &info);
  return info == 0 && rcond >= min_rcond;
}

constexpr double kMinReciprocalCondition = 1e-13;

// The ridge stabilize_gram and cholesky_solve use; fills `factor` with the Cholesky factor.
double smallest_stabilizing_ridge(const DenseMatrix& gram, DenseMatrix& factor) {
  const index_t k = gram.rows();
  for (double v : gram.values())
    NMF_REQUIRE(std::isfinite(v), Error, "the k x k Gram matrix has a NaN or infinite entry (the factors overflowed)");
  double trace = 0.0;
  for (index_t i = 0; i < k; ++i) trace += gram(i, i);
  const double scale = trace > 0.0 ? trace / static_cast<double>(k) : 1.0;
  double ridge = 0.0;
  for (int attempt = 0; attempt < 14; ++attempt) {
    if (factor_well_conditioned(gram, ridge, kMinReciprocalCondition, factor)) return ridge;
    ridge = ridge == 0.0 ? scale * 1e-13 : ridge * 100.0;
  }
  NMF_THROW(Error, "the k x k Gram matrix is not positive definite even with a ridge of " + std::to_string(ridge));
}

}  // namespace

double stabilize_gram(DenseMatrix& gram_matrix) {
  if (gram_matrix.rows() == 0) return 0.0;
  DenseMatrix factor;
  const double ridge = smallest_stabilizing_ridge(gram_matrix, factor);
  for (index_t i = 0; i < gram_matrix.rows(); ++i) gram_matrix(i, i) += ridge;
  return ridge;
}

double cholesky_solve(const DenseMatrix& gram_matrix, DenseMatrix& rhs) {
  const int k = blas_int(gram_matrix.rows(), "k");
  const int nrhs = blas_int(rhs.cols(), "right-hand sides");
  if (k == 0) return 0.0;
  NMF_REQUIRE(rhs.rows() == k, Error,
              "cholesky_solve: the right-hand side has " + std::to_string(rhs.rows()) + " rows, the Gram matrix " +
                  std::to_string(k));
  DenseMatrix factor;
  const double ridge = smallest_stabilizing_ridge(gram_matrix, factor);
  int info = 0;
  if (nrhs > 0) dpotrs_("U", &k, &nrhs, factor.data(), &k, rhs.data(), &k, &info);
  NMF_REQUIRE(info == 0, Error, "dpotrs failed with info " + std::to_string(info));
  return ridge;
}

bool upper_triangular_solve(const DenseMatrix& r, DenseMatrix& rhs) {
  const index_t k = r.rows();
  double largest = 0.0, smallest = std::numeric_limits<double>::infinity();
  for (index_t q = 0; q < k; ++q) {
    largest = std::max(largest, std::abs(r(q, q)));
    smallest = std::min(smallest, std::abs(r(q, q)));
  }
  if (k == 0 || !(smallest > 1e-14 * largest)) return false;
  if (rhs.cols() == 0) return true;
  const int n = blas_int(k, "k"), columns = blas_int(rhs.cols(), "columns"), ld = r.ld(), ldb = rhs.ld();
  int info = 0;
  dtrtrs_("U", "N", "N", &n, &columns, r.data(), &ld, rhs.data(), &ldb, &info);
  return info == 0;
}

}  // namespace nmf
