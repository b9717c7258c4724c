// The loss a factorization minimises, as one piece behind a small interface, so the loop and the solvers never
// ask which one is in use. Two exist:
//   full loss      ||X - A S||_F^2 over every entry of X (src/driver/loss_full.cpp);
//   held-out loss  the same over the entries a cross-validation fold keeps for training, with the error on the
//                  held-out ones reported beside it (src/driver/loss_held_out.cpp).
// A loss may change what the updates see: the products A^T X and S X^T (a loss that leaves entries out
// subtracts them) and, per column, the Gram matrices (the corrections the masked update path adds). It
// evaluates itself at the current factors from the replicated Gram matrices, <X, A S>, and sums of its own
// that the driver adds to the all-reduce it makes anyway.
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "nmf/distribution/collectives.hpp"
#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/distribution/grid.hpp"
#include "nmf/driver/holdout.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

// What a loss evaluates from: the current factors and what the driver has formed from them.
struct LossInputs {
  const DenseMatrix& gram_a_replicated;  // A^T A
  const DenseMatrix& gram_s_replicated;  // S S^T
  double x_dot_as;                       // <X, A S> over all of X (summed over ranks)
  const std::vector<double>& own_sums;   // the loss's own local_sums(), summed over ranks
  const DenseMatrix& a_t_rowblock;       // A's row block i, gathered over the grid row
  const DenseMatrix& s_colblock;         // S's column block j, gathered over the grid column
};

struct LossValue {
  double residual_sq = 0;                                           // the squared residual the loss covers
  double relative_error = 0;                                        // sqrt(residual_sq / ||X||^2 over the same entries)
  double heldout_error = std::numeric_limits<double>::quiet_NaN();  // error on entries left out, if any
  bool direct = false;  // whether the residual was recomputed entry by entry (see FullResidual)
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;

  // Whether the updates need per-column Gram corrections (then the solver must support masks).
  virtual bool corrects_gram() const { return false; }

  // Collective over the grid, once before the first evaluation.
  virtual void start(FactorCollectives&) {}

  // Local. `product_partial` is this block's share of A^T X (side S: k x m_j, from A's row block) or of S X^T
  // (side A: k x n_i, from S's column block), formed from all of X_ij; the loss makes it its own. When
  // corrects_gram(), it also adds its Gram corrections to `corrections_partial` (k*k x the same columns,
  // zeroed by the caller).
  virtual void correct_products(FactorSide, const DenseMatrix& /*other_block*/, DenseMatrix& /*product_partial*/,
                                DenseMatrix& /*corrections_partial*/) const {}

  // Local sums at the current factors that evaluate() needs summed over the ranks (the driver adds them to
  // an all-reduce it makes anyway). Always the same length.
  virtual std::vector<double> local_sums(const DenseMatrix& /*a_t_rowblock*/, const DenseMatrix& /*s_colblock*/) const {
    return {};
  }

  // Collective over the grid (it may all-reduce a direct residual). The value at the current factors.
  virtual LossValue evaluate(const LossInputs& inputs, FactorCollectives& collectives) const = 0;
};

// ||X - A S||_F^2 from the Gram identity ||X||^2 - 2 <X, A S> + <A^T A, S S^T>, or recomputed directly from
// the blocks when the relative error is below `direct_below`. The identity subtracts numbers of the size of
// ||X||^2, each accurate to about 1e-14 relative, so an error e keeps about 1e-14 / e^2 of relative accuracy
// in e^2: at e = 1e-3 that is 1e-8, enough for runs on different numbers of ranks to agree to 8 digits; below
// it the direct residual costs one dense block product (n m k / P flops per rank). That is done only where
// it is affordable: dense storage, or a sparse X with at least 1/32 of its entries stored.
class FullResidual {
 public:
  FullResidual(const DistMatrix& x, const ProcessGrid& grid, double direct_below);
  // Collective over the grid when the direct path is taken (the same decision on every rank).
  double squared(const LossInputs& inputs, FactorCollectives& collectives, bool& direct) const;
  double x_norm_sq() const { return x_.stats.frobenius_sq; }

 private:
  const DistMatrix& x_;
  const ProcessGrid& grid_;
  double direct_below_;
  bool direct_affordable_;  // same on every rank: it depends on global facts only
};

constexpr double kDefaultDirectErrorBelow = 1e-3;

// ||X - A S||_F^2 over all of X.
std::unique_ptr<Loss> make_full_loss(const DistMatrix& x, const ProcessGrid& grid,
                                     double direct_below = kDefaultDirectErrorBelow);

// The training loss of a cross-validation fold: ||X - A S||^2 over the entries `spec` keeps; the error on the
// held-out ones is reported as LossValue::heldout_error.
std::unique_ptr<Loss> make_held_out_loss(const DistMatrix& x, const ProcessGrid& grid, const HoldOutSpec& spec,
                                         double direct_below = kDefaultDirectErrorBelow);

}  // namespace nmf
