// The full loss ||X - A S||_F^2, and the residual every loss built on it shares.
#include <cmath>

#include "nmf/driver/loss.hpp"
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/products.hpp"

namespace nmf {

FullResidual::FullResidual(const DistMatrix& x, const ProcessGrid& grid, double direct_below)
    : x_(x),
      grid_(grid),
      direct_below_(direct_below),
      direct_affordable_(x.block.storage == Storage::dense ||
                         static_cast<double>(x.layout.n) * static_cast<double>(x.layout.m) <=
                             32.0 * static_cast<double>(x.stats.stored_entries)) {}

double FullResidual::squared(const LossInputs& in, FactorCollectives& collectives, bool& direct) const {
  const double norm_sq = x_.stats.frobenius_sq;
  const double identity =
      std::max(0.0, norm_sq - 2.0 * in.x_dot_as + frobenius_dot(in.gram_a_replicated, in.gram_s_replicated));
  direct = direct_affordable_ && identity < direct_below_ * direct_below_ * norm_sq;
  if (!direct) return identity;
  std::vector<double> residual{residual_squared(in.a_t_rowblock, in.s_colblock, x_.block)};
  collectives.allreduce_sum(grid_.comm(), residual);
  return residual[0];
}

namespace {

class FullLoss final : public Loss {
 public:
  FullLoss(const DistMatrix& x, const ProcessGrid& grid, double direct_below) : residual_(x, grid, direct_below) {}

  std::string name() const override { return "full"; }

  LossValue evaluate(const LossInputs& inputs, FactorCollectives& collectives) const override {
    LossValue value;
    value.residual_sq = residual_.squared(inputs, collectives, value.direct);
    value.relative_error = std::sqrt(value.residual_sq / residual_.x_norm_sq());
    return value;
  }

 private:
  FullResidual residual_;
};

}  // namespace

std::unique_ptr<Loss> make_full_loss(const DistMatrix& x, const ProcessGrid& grid, double direct_below) {
  return std::make_unique<FullLoss>(x, grid, direct_below);
}

}  // namespace nmf
