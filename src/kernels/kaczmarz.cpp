#include "nmf/kernels/kaczmarz.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "clones.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/random.hpp"

namespace nmf {

namespace {

// Draws equations with probability proportional to their weights (squared norms, or 1 each), from a
// counter-based stream: draw number t of an outer iteration always gives the same equation.
class EquationSampler {
 public:
  EquationSampler(const DenseMatrix& equations, KaczmarzSampling sampling, const KaczmarzStream& stream)
      : stream_(stream), cumulative_(static_cast<std::size_t>(equations.cols())) {
    double total = 0.0;
    for (index_t r = 0; r < equations.cols(); ++r) {
      double weight = 0.0;
      const double* e = equations.col(r);
      for (index_t q = 0; q < equations.rows(); ++q) weight += e[q] * e[q];
      // A zero equation carries no information: never draw it, whatever the sampling.
      if (sampling == KaczmarzSampling::uniform && weight > 0.0) weight = 1.0;
      total += weight;
      cumulative_[static_cast<std::size_t>(r)] = total;
      if (weight > 0.0) ++usable_;
    }
  }

  index_t usable() const { return usable_; }

  index_t draw() {
    const double u = uniform01(stream_.seed, RandomStream::kaczmarz, (stream_.iteration << 32) + draws_++,
                               static_cast<std::uint32_t>(stream_.lane));
    const double target = u * cumulative_.back();
    const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), target);
    return std::min<index_t>(static_cast<index_t>(it - cumulative_.begin()),
                             static_cast<index_t>(cumulative_.size()) - 1);
  }

 private:
  KaczmarzStream stream_;
  std::vector<double> cumulative_;
  std::uint64_t draws_ = 0;
  index_t usable_ = 0;
};

// One single-equation step for every column: u_c <- max(0, u_c + (b_c - e^T u_c) / ||e||^2 e), where
// b_c comes from next_rhs(c) (called for c = 0, 1, ... in order). One pass over U, the equation in
// registers: the step is memory-bound, so fusing the dot product, the update and the projection into
// one pass (BLAS would take three: gemv, ger and a separate clamp) is what makes it fast.
// The fused steps are the solver's whole cost: cloned per instruction set in a portable build (clones.hpp).
template <int K, class Rhs>
NMF_KERNEL_CLONES_ATTRIBUTE void single_step_fixed(const double* e, double inverse_norm, index_t columns, double* u, Rhs&& next_rhs) {
  double row[K];
  std::copy(e, e + K, row);
  for (index_t c = 0; c < columns; ++c, u += K) {
    double dot = 0.0;
    for (int q = 0; q < K; ++q) dot += row[q] * u[q];
    const double coefficient = (next_rhs(c) - dot) * inverse_norm;
    for (int q = 0; q < K; ++q) u[q] = std::max(0.0, u[q] + coefficient * row[q]);
  }
}

template <class Rhs>
NMF_KERNEL_CLONES_ATTRIBUTE void single_step_any(const double* e, index_t k, double inverse_norm, index_t columns, double* u, Rhs&& next_rhs) {
  for (index_t c = 0; c < columns; ++c, u += k) {
    double dot = 0.0;
    for (index_t q = 0; q < k; ++q) dot += e[q] * u[q];
    const double coefficient = (next_rhs(c) - dot) * inverse_norm;
    for (index_t q = 0; q < k; ++q) u[q] = std::max(0.0, u[q] + coefficient * e[q]);
  }
}

// Dispatches to the k-specialized step for k <= 32 (the ranks NMF is usually run with), else the generic one.
template <class Rhs, int... Ks>
void single_step(const double* e, index_t k, double inverse_norm, index_t columns, double* u, Rhs&& next_rhs,
                 std::integer_sequence<int, Ks...>) {
  const bool done =
      ((k == Ks + 1 ? (single_step_fixed<Ks + 1>(e, inverse_norm, columns, u, next_rhs), true) : false) || ...);
  if (!done) single_step_any(e, k, inverse_norm, columns, u, next_rhs);
}

void single_equation_step(const DenseMatrix& equations, index_t r, const KaczmarzRhs& rhs, DenseMatrix& unknowns,
                          double relaxation) {
  const index_t k = equations.rows();
  const double* e = equations.col(r);
  double norm_sq = 0.0;
  for (index_t q = 0; q < k; ++q) norm_sq += e[q] * e[q];
  if (!(norm_sq > 0.0)) return;
  const double inverse_norm = relaxation / norm_sq;
  const auto ks = std::make_integer_sequence<int, 32>{};
  if (rhs.dense) {
    const double* b = rhs.dense->col(r);
    single_step(
        e, k, inverse_norm, unknowns.cols(), unknowns.data(), [b](index_t c) { return b[c]; }, ks);
  } else {
    // Only the stored entries of row r are read; the others are zero.
    const CompressedMatrix& x = *rhs.compressed;
    index_t p = x.ptr[r];
    const index_t end = x.ptr[r + 1];
    single_step(
        e, k, inverse_norm, unknowns.cols(), unknowns.data(),
        [&](index_t c) { return p < end && x.index[p] == c ? x.values[p++] : 0.0; }, ks);
  }
}

// A block step with the equations `rows` (B of them): the residuals R = b_tau - E_tau^T U, then the
// correction that solves the block's least-squares problem. With more equations than unknowns (B > k) that
// is (E_tau E_tau^T)^-1 E_tau R, a k x k solve; with B <= k it is E_tau (E_tau^T E_tau)^-1 R, damped by a
// ridge of a tenth of the mean squared norm, because a few rows of non-negative data are nearly parallel
// and their exact projection overshoots (undamped it stalls or diverges on planted problems).
void block_step(const DenseMatrix& equations, const std::vector<index_t>& rows, const KaczmarzRhs& rhs,
                DenseMatrix& unknowns, double relaxation, DenseMatrix& e_block, DenseMatrix& residual) {
  const index_t k = equations.rows(), b = static_cast<index_t>(rows.size()), columns = unknowns.cols();
  e_block.reshape(k, b);
  for (index_t t = 0; t < b; ++t) std::copy(equations.col(rows[t]), equations.col(rows[t]) + k, e_block.col(t));
  residual.resize(b, columns);
  for (index_t t = 0; t < b; ++t) {
    const index_t r = rows[t];
    if (rhs.dense) {
      const double* values = rhs.dense->col(r);
      for (index_t c = 0; c < columns; ++c) residual(t, c) = values[c];
    } else {
      const CompressedMatrix& x = *rhs.compressed;
      for (index_t p = x.ptr[r]; p < x.ptr[r + 1]; ++p) residual(t, x.index[p]) = x.values[p];
    }
  }
  const int ik = blas_int(k, "k"), ib = blas_int(b, "block"), ic = blas_int(columns, "columns");
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, ib, ic, ik, -1.0, e_block.data(), e_block.ld(), unknowns.data(),
              unknowns.ld(), 1.0, residual.data(), residual.ld());
  // The correction is P R with P (k x B) the block's (damped) pseudo-inverse, formed with B or k right-hand
  // sides instead of solving for all `columns` of R.
  DenseMatrix pseudo_inverse;
  if (b <= k) {
    DenseMatrix gram_block(b, b);  // E_tau^T E_tau
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, ib, ib, ik, 1.0, e_block.data(), e_block.ld(), e_block.data(),
                e_block.ld(), 0.0, gram_block.data(), gram_block.ld());
    double trace = 0.0;
    for (index_t t = 0; t < b; ++t) trace += gram_block(t, t);
    for (index_t t = 0; t < b; ++t) gram_block(t, t) += 0.1 * trace / static_cast<double>(b);
    DenseMatrix transposed_e(b, k);  // P^T = (E^T E + ridge)^-1 E^T
    for (index_t q = 0; q < k; ++q)
      for (index_t t = 0; t < b; ++t) transposed_e(t, q) = e_block(q, t);
    cholesky_solve(gram_block, transposed_e);
    pseudo_inverse.reshape(k, b);
    for (index_t t = 0; t < b; ++t)
      for (index_t q = 0; q < k; ++q) pseudo_inverse(q, t) = transposed_e(t, q);
  } else {
    DenseMatrix gram_block;
    gram(e_block, gram_block);  // E_tau E_tau^T, k x k
    pseudo_inverse = e_block;   // P = (E E^T)^-1 E
    cholesky_solve(gram_block, pseudo_inverse);
  }
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, ik, ic, ib, relaxation, pseudo_inverse.data(),
              pseudo_inverse.ld(), residual.data(), residual.ld(), 1.0, unknowns.data(), unknowns.ld());
  for (double& v : unknowns.values()) v = std::max(v, 0.0);
}

}  // namespace

void kaczmarz_steps(const DenseMatrix& equations, const KaczmarzRhs& rhs, DenseMatrix& unknowns, index_t steps,
                    int block, KaczmarzSampling sampling, const KaczmarzStream& stream, double relaxation) {
  NMF_REQUIRE(equations.rows() == unknowns.rows(), Error, "kaczmarz: equations and unknowns have different k");
  NMF_REQUIRE((rhs.dense != nullptr) != (rhs.compressed != nullptr), Error, "kaczmarz: give exactly one rhs");
  if (rhs.dense)
    NMF_REQUIRE(rhs.dense->cols() == equations.cols() && rhs.dense->rows() == unknowns.cols(), Error,
                "kaczmarz: dense right-hand sides do not match");
  else
    NMF_REQUIRE(rhs.compressed->rows == equations.cols() && rhs.compressed->cols == unknowns.cols(), Error,
                "kaczmarz: compressed right-hand sides do not match");
  if (steps <= 0 || unknowns.size() == 0 || equations.cols() == 0) return;
  EquationSampler sampler(equations, sampling, stream);
  if (sampler.usable() == 0) return;

  if (block <= 1) {
    for (index_t step = 0; step < steps; ++step)
      single_equation_step(equations, sampler.draw(), rhs, unknowns, relaxation);
    return;
  }
  const index_t b = std::min<index_t>(block, sampler.usable());
  std::vector<index_t> rows;
  DenseMatrix e_block, residual;
  for (index_t taken = 0; taken < steps; taken += b) {
    // b distinct equations (a repeated one would make the block's system singular).
    rows.clear();
    while (static_cast<index_t>(rows.size()) < b) {
      const index_t r = sampler.draw();
      if (std::find(rows.begin(), rows.end(), r) == rows.end()) rows.push_back(r);
    }
    block_step(equations, rows, rhs, unknowns, relaxation, e_block, residual);
  }
}

}  // namespace nmf
