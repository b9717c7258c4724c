#include "nmf/kernels/observed.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "nmf/kernels/dense.hpp"

namespace nmf {

ObservedBlock make_observed_block(CompressedMatrix csr) {
  ObservedBlock block;
  block.rows = csr.rows;
  block.cols = csr.cols;
  block.csr = std::move(csr);
  const CompressedMatrix& c = block.csr;
  // A counting sort of the CSR positions by column; within a column the rows come in increasing order.
  block.csc_ptr.assign(static_cast<std::size_t>(block.cols + 1), 0);
  for (index_t p = 0; p < c.nnz(); ++p) ++block.csc_ptr[static_cast<std::size_t>(c.index[p] + 1)];
  for (index_t j = 0; j < block.cols; ++j) block.csc_ptr[j + 1] += block.csc_ptr[j];
  block.csc_row.resize(static_cast<std::size_t>(c.nnz()));
  block.csc_to_csr.resize(static_cast<std::size_t>(c.nnz()));
  std::vector<index_t> next(block.csc_ptr.begin(), block.csc_ptr.end() - 1);
  for (index_t i = 0; i < block.rows; ++i)
    for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) {
      const index_t q = next[static_cast<std::size_t>(c.index[p])]++;
      block.csc_row[q] = i;
      block.csc_to_csr[q] = p;
    }
  block.residual = c.values;
  return block;
}

void count_ratings(const ObservedBlock& block, std::vector<double>& per_row, std::vector<double>& per_col) {
  per_row.assign(static_cast<std::size_t>(block.rows), 0.0);
  per_col.assign(static_cast<std::size_t>(block.cols), 0.0);
  for (index_t i = 0; i < block.rows; ++i) per_row[i] = static_cast<double>(block.csr.ptr[i + 1] - block.csr.ptr[i]);
  for (index_t j = 0; j < block.cols; ++j) per_col[j] = static_cast<double>(block.csc_ptr[j + 1] - block.csc_ptr[j]);
}

void add_rank_one(ObservedBlock& block, const double* a, const double* s, double sign) {
  const CompressedMatrix& c = block.csr;
  double* r = block.residual.data();
  for (index_t i = 0; i < block.rows; ++i) {
    const double ai = sign * a[i];
    if (ai == 0.0) continue;
    for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) r[p] += ai * s[c.index[p]];
  }
}

void replace_rank_one(ObservedBlock& block, const double* a_sub, const double* s_sub, const double* a_add,
                      const double* s_add) {
  const CompressedMatrix& c = block.csr;
  double* r = block.residual.data();
  for (index_t i = 0; i < block.rows; ++i) {
    const double sub = a_sub[i], add = a_add[i];
    for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) {
      const index_t j = c.index[p];
      r[p] += add * s_add[j] - sub * s_sub[j];
    }
  }
}

void column_sums(const ObservedBlock& block, const double* a, double* numerator, double* denominator) {
  const double* r = block.residual.data();
  for (index_t j = 0; j < block.cols; ++j) {
    double num = 0, den = 0;
    for (index_t q = block.csc_ptr[j]; q < block.csc_ptr[j + 1]; ++q) {
      const double ai = a[block.csc_row[q]];
      num += r[block.csc_to_csr[q]] * ai;
      den += ai * ai;
    }
    numerator[j] = num;
    denominator[j] = den;
  }
}

void row_sums(const ObservedBlock& block, const double* s, double* numerator, double* denominator) {
  const CompressedMatrix& c = block.csr;
  const double* r = block.residual.data();
  for (index_t i = 0; i < block.rows; ++i) {
    double num = 0, den = 0;
    for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) {
      const double sj = s[c.index[p]];
      num += r[p] * sj;
      den += sj * sj;
    }
    numerator[i] = num;
    denominator[i] = den;
  }
}

void nonnegative_coordinate(const double* numerator, const double* denominator, const double* counts, double lambda,
                            index_t length, double* out) {
  for (index_t t = 0; t < length; ++t) {
    const double scale = lambda * counts[t] + denominator[t];
    out[t] = scale > 0.0 ? std::max(0.0, numerator[t] / scale) : 0.0;
  }
}

void row_residual_sums(const ObservedBlock& block, double* sums) {
  const CompressedMatrix& c = block.csr;
  for (index_t i = 0; i < block.rows; ++i) {
    double sum = 0;
    for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) sum += block.residual[p];
    sums[i] = sum;
  }
}

void column_residual_sums(const ObservedBlock& block, double* sums) {
  std::fill(sums, sums + block.cols, 0.0);
  const CompressedMatrix& c = block.csr;
  for (index_t p = 0; p < c.nnz(); ++p) sums[c.index[p]] += block.residual[p];
}

void shift_rows(ObservedBlock& block, const double* row_shift) {
  const CompressedMatrix& c = block.csr;
  for (index_t i = 0; i < block.rows; ++i)
    for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) block.residual[p] -= row_shift[i];
}

void shift_columns(ObservedBlock& block, const double* col_shift) {
  const CompressedMatrix& c = block.csr;
  for (index_t p = 0; p < c.nnz(); ++p) block.residual[p] -= col_shift[c.index[p]];
}

ErrorSums clipped_training_errors(const ObservedBlock& block, double low, double high) {
  ErrorSums sums;
  const CompressedMatrix& c = block.csr;
  for (index_t p = 0; p < c.nnz(); ++p) {
    const double x = c.values[p];
    const double prediction = std::clamp(x - block.residual[p], low, high);
    const double error = x - prediction;
    sums.squared += error * error;
    sums.absolute += std::abs(error);
  }
  sums.count = static_cast<double>(c.nnz());
  return sums;
}

double residual_squares(const ObservedBlock& block) {
  double sum = 0;
  for (double r : block.residual) sum += r * r;
  return sum;
}

void refresh_residuals(ObservedBlock& block, double mu, const double* row_bias, const double* col_bias,
                       const DenseMatrix& a_rowblock, const DenseMatrix& s_colblock) {
  const CompressedMatrix& c = block.csr;
  double* r = block.residual.data();
  for (index_t i = 0; i < block.rows; ++i)
    for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) r[p] = c.values[p] - mu - row_bias[i] - col_bias[c.index[p]];
  // One feature at a time: both factor blocks are feature-major, so feature f's values are contiguous.
  for (index_t f = 0; f < a_rowblock.cols(); ++f) {
    const double* a = a_rowblock.col(f);
    const double* s = s_colblock.col(f);
    for (index_t i = 0; i < block.rows; ++i) {
      const double ai = a[i];
      if (ai == 0.0) continue;
      for (index_t p = c.ptr[i]; p < c.ptr[i + 1]; ++p) r[p] -= ai * s[c.index[p]];
    }
  }
}

namespace {

// One rating y against the other factor's row o >= 0, with ridge rho > 0: min (y - o.f)^2 + rho |f|^2 over f >= 0.
// The unconstrained minimiser o y / (|o|^2 + rho) is >= 0 when y >= 0, so it is the solution; when y < 0 every
// f >= 0 has o.f >= 0 and a loss of at least y^2, which f = 0 attains. Exact, with no k x k system: a third of
// MovieLens latest-small's items have one training rating.
void solve_single_rating(const double* o, index_t k, double y, double rho, double* f) {
  double norm = rho;
  for (index_t q = 0; q < k; ++q) norm += o[q] * o[q];
  const double scale = y > 0 ? y / norm : 0.0;
  for (index_t q = 0; q < k; ++q) f[q] = scale * o[q];
}

}  // namespace

NnlsStats solve_observed_groups(const GroupedRatings& ratings, const std::vector<double>& others, index_t k, double mu,
                                const double* own_bias, const double* counts, double lambda, DenseMatrix& out) {
  NnlsStats total;
  DenseMatrix touched, gram_g;
  std::vector<double> y, rhs(static_cast<std::size_t>(k));
  NnlsWorkspace work;
  const index_t stride = k + 1;
  for (index_t g = 0; g < ratings.groups(); ++g) {
    const index_t begin = ratings.ptr[g], count = ratings.ptr[g + 1] - begin;
    double* f = out.col(g);
    if (count == 0 || counts[g] == 0) {
      std::fill(f, f + k, 0.0);  // a cold start: no rating to learn from
      continue;
    }
    if (count == 1 && lambda * counts[g] > 0) {
      solve_single_rating(others.data() + ratings.other[begin] * stride, k,
                          ratings.value[begin] - mu - own_bias[g] - others[ratings.other[begin] * stride + k],
                          lambda * counts[g], f);
      continue;
    }
    // O_g^T (k x count): the touched rows side by side, and the targets without the biases.
    touched.reshape(k, count);
    y.resize(static_cast<std::size_t>(count));
    for (index_t e = 0; e < count; ++e) {
      const double* o = others.data() + ratings.other[begin + e] * stride;
      std::copy(o, o + k, touched.col(e));
      y[e] = ratings.value[begin + e] - mu - own_bias[g] - o[k];
    }
    gram(touched, gram_g);
    const double ridge = lambda * counts[g];
    for (index_t q = 0; q < k; ++q) gram_g(q, q) += ridge;
    if (!(ridge > 0)) stabilize_gram(gram_g);  // lambda = 0: fewer ratings than k leave G singular
    cblas_dgemv(CblasColMajor, CblasNoTrans, blas_int(k, "k"), blas_int(count, "ratings of a row"), 1.0, touched.data(),
                touched.ld(), y.data(), 1, 0.0, rhs.data(), 1);
    for (index_t q = 0; q < k; ++q) f[q] = std::max(0.0, f[q]);
    const NnlsStats stats = nnls_one_right_hand_side(gram_g, rhs.data(), f, work);
    total.pivot_rounds = std::max(total.pivot_rounds, stats.pivot_rounds);
    total.factorizations += stats.factorizations;
    total.unconverged += stats.unconverged;
  }
  return total;
}

namespace {

// One projected step on f (k values) against o: see observed_kaczmarz_pass.
inline void kaczmarz_move(double* f, const double* o, index_t k, double error, double lambda, double relaxation) {
  double norm = lambda;
  for (index_t q = 0; q < k; ++q) norm += o[q] * o[q];
  if (!(norm > 0)) return;  // o is 0 and there is no ridge: the rating says nothing about f
  const double step = relaxation / norm;
  for (index_t q = 0; q < k; ++q) f[q] = std::max(0.0, f[q] + step * (error * o[q] - lambda * f[q]));
}

inline double rating_error(double x, double mu, const double* a, const double* s, index_t k) {
  double error = x - mu - a[k] - s[k];
  for (index_t q = 0; q < k; ++q) error -= a[q] * s[q];
  return error;
}

}  // namespace

void observed_kaczmarz_pass(const index_t* rows, const index_t* cols, const double* values, index_t count, index_t k,
                            double mu, double* a, double* s, double lambda, double relaxation) {
  const index_t stride = k + 1;
  for (index_t t = 0; t < count; ++t) {
    double* a_i = a + rows[t] * stride;
    double* s_j = s + cols[t] * stride;
    kaczmarz_move(s_j, a_i, k, rating_error(values[t], mu, a_i, s_j, k), lambda, relaxation);
    kaczmarz_move(a_i, s_j, k, rating_error(values[t], mu, a_i, s_j, k), lambda, relaxation);
  }
}

double predict_rating(double mu, double b, double c, const double* a, index_t a_stride, const double* s,
                      index_t s_stride, index_t k, double low, double high) {
  double prediction = mu + b + c;
  if (a && s)
    for (index_t f = 0; f < k; ++f) prediction += a[f * a_stride] * s[f * s_stride];
  return std::clamp(prediction, low, high);
}

}  // namespace nmf
