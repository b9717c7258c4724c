// Held-out entries for cross-validation: a fold leaves a random fraction of X's stored entries out of the
// training loss, and the error on them measures how well a rank k generalizes. Each rank holds only the
// held-out entries of its own block, and the driver uses them to turn every product and Gram matrix into
// the training loss's (the masked update path).
#pragma once

#include <cstdint>
#include <vector>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/distribution/grid.hpp"

namespace nmf {

struct HoldOutSpec {
  double fraction = 0.1;
  std::uint64_t seed = 1;
  int fold = 0;
};

class HeldOutEntries {
 public:
  // Local: entry (i, j) of the stored entries of X is held out when a counter-based draw keyed by
  // (seed, fold, i m + j) falls below `fraction`, so the choice depends neither on the number of ranks nor
  // on the grid.
  HeldOutEntries(const DistMatrix& x, const ProcessGrid& grid, const HoldOutSpec& spec);

  index_t local_count() const { return static_cast<index_t>(entries_.size()); }
  double local_value_sq() const { return value_sq_; }

  // For the S update, on this block: product_partial (A^T X, k x m_j) loses a_r x for every held-out (r, c)
  // in column c, and corrections (k*k x m_j, zeroed by the caller) gains a_r a_r^T there.
  void correct_for_s(const DenseMatrix& a_t_rowblock, DenseMatrix& product_partial, DenseMatrix& corrections) const;
  // For the A update: the same with s_c, for S X^T (k x n_i) and row r.
  void correct_for_a(const DenseMatrix& s_colblock, DenseMatrix& product_partial, DenseMatrix& corrections) const;

  // Sums over this block's held-out entries, with p = a_r^T s_c the prediction: x p (what the corrected
  // products miss of <X, A S>) and (x - p)^2 (the held-out residual).
  struct Sums {
    double cross = 0.0;
    double residual_sq = 0.0;
  };
  Sums sums(const DenseMatrix& a_t_rowblock, const DenseMatrix& s_colblock) const;

 private:
  std::vector<Triplet> entries_;  // block-local indices
  double value_sq_ = 0.0;
};

}  // namespace nmf
