#include "nmf/driver/holdout.hpp"

#include "nmf/kernels/random.hpp"

namespace nmf {

HeldOutEntries::HeldOutEntries(const DistMatrix& x, const ProcessGrid& grid, const HoldOutSpec& spec) {
  const Layout& layout = x.layout;
  const index_t row0 = layout.row_blocks.begin(grid.row()), col0 = layout.col_blocks.begin(grid.col());
  const auto m = static_cast<std::uint64_t>(layout.m);
  auto consider = [&](index_t r, index_t c, double value) {
    const std::uint64_t index = static_cast<std::uint64_t>(row0 + r) * m + static_cast<std::uint64_t>(col0 + c);
    if (uniform01(spec.seed, RandomStream::holdout, index, static_cast<std::uint32_t>(spec.fold)) < spec.fraction) {
      entries_.push_back({r, c, value});
      value_sq_ += value * value;
    }
  };
  for_each_stored_entry(x.block, consider);
}

namespace {
// partial(:, to) -= x v; corrections(:, to) += vec(v v^T), for the k values v.
void remove_entry(const double* v, index_t k, double x, double* partial, double* correction) {
  for (index_t p = 0; p < k; ++p) partial[p] -= x * v[p];
  for (index_t q = 0; q < k; ++q)
    for (index_t p = 0; p < k; ++p) correction[p + q * k] += v[p] * v[q];
}
}  // namespace

void HeldOutEntries::correct_for_s(const DenseMatrix& a_t_rowblock, DenseMatrix& product_partial,
                                   DenseMatrix& corrections) const {
  const index_t k = a_t_rowblock.rows();
  for (const Triplet& e : entries_)
    remove_entry(a_t_rowblock.col(e.row), k, e.value, product_partial.col(e.col), corrections.col(e.col));
}

void HeldOutEntries::correct_for_a(const DenseMatrix& s_colblock, DenseMatrix& product_partial,
                                   DenseMatrix& corrections) const {
  const index_t k = s_colblock.rows();
  for (const Triplet& e : entries_)
    remove_entry(s_colblock.col(e.col), k, e.value, product_partial.col(e.row), corrections.col(e.row));
}

HeldOutEntries::Sums HeldOutEntries::sums(const DenseMatrix& a_t_rowblock, const DenseMatrix& s_colblock) const {
  const index_t k = a_t_rowblock.rows();
  Sums sum;
  for (const Triplet& e : entries_) {
    const double* a = a_t_rowblock.col(e.row);
    const double* s = s_colblock.col(e.col);
    double prediction = 0.0;
    for (index_t p = 0; p < k; ++p) prediction += a[p] * s[p];
    sum.cross += e.value * prediction;
    sum.residual_sq += (e.value - prediction) * (e.value - prediction);
  }
  return sum;
}

}  // namespace nmf
