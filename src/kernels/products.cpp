#include "nmf/kernels/products.hpp"

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
