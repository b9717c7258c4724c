// The training loss of a cross-validation fold: ||X - A S||^2 over the entries the fold keeps. Each rank holds
// the held-out entries of its own block (nmf/driver/holdout.hpp) and takes them out of the products and, per
// column, out of the Gram matrices (the masked update path); the evaluation is the full residual minus the
// held-out entries' residual, and the error on those entries is reported beside it.
#include <cmath>

#include "nmf/driver/loss.hpp"

namespace nmf {

namespace {

class HeldOutLoss final : public Loss {
 public:
  HeldOutLoss(const DistMatrix& x, const ProcessGrid& grid, const HoldOutSpec& spec, double direct_below)
      : grid_(grid), entries_(x, grid, spec), residual_(x, grid, direct_below) {}

  std::string name() const override { return "held-out"; }
  bool corrects_gram() const override { return true; }

  void start(FactorCollectives& collectives) override {
    std::vector<double> total{entries_.local_value_sq()};
    collectives.allreduce_sum(grid_.comm(), total);
    heldout_value_sq_ = total[0];
  }

  void correct_products(FactorSide side, const DenseMatrix& other_block, DenseMatrix& product_partial,
                        DenseMatrix& corrections_partial) const override {
    if (side == FactorSide::S)
      entries_.correct_for_s(other_block, product_partial, corrections_partial);
    else
      entries_.correct_for_a(other_block, product_partial, corrections_partial);
  }

  // What the corrected products miss of <X, A S>, and the held-out residual.
  std::vector<double> local_sums(const DenseMatrix& a_t_rowblock, const DenseMatrix& s_colblock) const override {
    const HeldOutEntries::Sums sums = entries_.sums(a_t_rowblock, s_colblock);
    return {sums.cross, sums.residual_sq};
  }

  LossValue evaluate(const LossInputs& in, FactorCollectives& collectives) const override {
    const double missed_cross = in.own_sums[0], heldout_residual_sq = in.own_sums[1];
    const LossInputs full{in.gram_a_replicated, in.gram_s_replicated, in.x_dot_as + missed_cross,
                          in.own_sums,          in.a_t_rowblock,      in.s_colblock};
    LossValue value;
    value.residual_sq = std::max(0.0, residual_.squared(full, collectives, value.direct) - heldout_residual_sq);
    value.relative_error = std::sqrt(value.residual_sq / (residual_.x_norm_sq() - heldout_value_sq_));
    value.heldout_error = std::sqrt(heldout_residual_sq / heldout_value_sq_);
    return value;
  }

 private:
  const ProcessGrid& grid_;
  HeldOutEntries entries_;
  FullResidual residual_;
  double heldout_value_sq_ = 0;  // sum of squares of every held-out entry
};

}  // namespace

std::unique_ptr<Loss> make_held_out_loss(const DistMatrix& x, const ProcessGrid& grid, const HoldOutSpec& spec,
                                         double direct_below) {
  return std::make_unique<HeldOutLoss>(x, grid, spec, direct_below);
}

}  // namespace nmf
