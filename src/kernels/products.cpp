#include "nmf/kernels/products.hpp"

#include <cblas.h>

#include <algorithm>

#include "nmf/kernels/dense.hpp"

namespace nmf {

void multiply_compressed(const DenseMatrix& factor, const CompressedMatrix& c, DenseMatrix& out) {
  NMF_REQUIRE(factor.cols() == c.cols, Error, "multiply_compressed: factor length differs from the block");
  const index_t k = factor.rows();
  out.resize(k, c.rows);
  const double* f = factor.data();
  for (index_t r = 0; r < c.rows; ++r) {
    double* dest = out.col(r);
    for (index_t p = c.ptr[r]; p < c.ptr[r + 1]; ++p) {
      const double v = c.values[p];
      const double* src = f + c.index[p] * k;
      for (index_t q = 0; q < k; ++q) dest[q] += v * src[q];
    }
  }
}

void multiply_at_x(const DenseMatrix& at_rowblock, const LocalBlock& x, DenseMatrix& out) {
  if (x.storage == Storage::dense)
    multiply(at_rowblock, x.dense, out);
  else
    multiply_compressed(at_rowblock, x.csc, out);
}

void multiply_s_xt(const DenseMatrix& s_colblock, const LocalBlock& x, DenseMatrix& out) {
  if (x.storage == Storage::dense)
    multiply_transposed(s_colblock, x.dense, out);
  else
    multiply_compressed(s_colblock, x.csr, out);
}

double residual_squared(const DenseMatrix& at_rowblock, const DenseMatrix& s_colblock, const LocalBlock& x) {
  const index_t rows = x.rows, k = at_rowblock.rows();
  NMF_REQUIRE(at_rowblock.cols() == rows && s_colblock.cols() == x.cols && s_colblock.rows() == k, Error,
              "residual_squared: factor blocks do not match X's block");
  if (rows == 0 || x.cols == 0) return 0.0;
  const index_t tile_cols = std::max<index_t>(1, (index_t{1} << 20) / rows);
  DenseMatrix tile;
  double sum = 0.0;
  for (index_t first = 0; first < x.cols; first += tile_cols) {
    const index_t width = std::min(tile_cols, x.cols - first);
    tile.resize(rows, width);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, blas_int(rows, "block rows"), blas_int(width, "tile width"),
                blas_int(k, "k"), 1.0, at_rowblock.data(), at_rowblock.ld(), s_colblock.col(first), s_colblock.ld(),
                0.0, tile.data(), tile.ld());
    for (index_t jj = 0; jj < width; ++jj) {
      double* column = tile.col(jj);
      if (x.storage == Storage::dense) {
        const double* xj = x.dense.col(first + jj);
        for (index_t i = 0; i < rows; ++i) column[i] -= xj[i];
      } else {
        const index_t j = first + jj;
        for (index_t p = x.csc.ptr[j]; p < x.csc.ptr[j + 1]; ++p) column[x.csc.index[p]] -= x.csc.values[p];
      }
    }
    for (double v : tile.values()) sum += v * v;
  }
  return sum;
}

namespace reference {

namespace {
// Calls visit(row, col, value) for every stored entry of the block.
template <class Visit>
void for_each_entry(const LocalBlock& x, Visit visit) {
  if (x.storage == Storage::dense) {
    for (index_t j = 0; j < x.cols; ++j)
      for (index_t i = 0; i < x.rows; ++i) visit(i, j, x.dense(i, j));
  } else {
    for (index_t i = 0; i < x.rows; ++i)
      for (index_t p = x.csr.ptr[i]; p < x.csr.ptr[i + 1]; ++p) visit(i, x.csr.index[p], x.csr.values[p]);
  }
}
}  // namespace

void multiply_at_x(const DenseMatrix& at_rowblock, const LocalBlock& x, DenseMatrix& out) {
  out.resize(at_rowblock.rows(), x.cols);
  for_each_entry(x, [&](index_t i, index_t j, double v) {
    for (index_t q = 0; q < at_rowblock.rows(); ++q) out(q, j) += at_rowblock(q, i) * v;
  });
}

void multiply_s_xt(const DenseMatrix& s_colblock, const LocalBlock& x, DenseMatrix& out) {
  out.resize(s_colblock.rows(), x.rows);
  for_each_entry(x, [&](index_t i, index_t j, double v) {
    for (index_t q = 0; q < s_colblock.rows(); ++q) out(q, i) += s_colblock(q, j) * v;
  });
}

}  // namespace reference
}  // namespace nmf
