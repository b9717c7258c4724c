// Lee & Seung's multiplicative updates: F <- F .* C ./ (G F + l1 + eps). Every factor stays
// non-negative without projection; eps keeps a zero denominator (a zero row of X) from making NaN.
#include <cblas.h>

#include <algorithm>

#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

constexpr double kEpsilon = 1e-16;

class MuSolver final : public LocalSolver {
 public:
  std::string name() const override { return "mu"; }

  void update(const UpdateInputs& inputs, DenseMatrix& factor) override {
    const index_t k = factor.rows();
    denominator_.resize(k, factor.cols());
    if (factor.size() > 0)
      cblas_dsymm(CblasColMajor, CblasLeft, CblasUpper, blas_int(k, "k"), blas_int(factor.cols(), "factor length"), 1.0,
                  inputs.gram.data(), inputs.gram.ld(), factor.data(), factor.ld(), 0.0, denominator_.data(),
                  denominator_.ld());
    const double* c = inputs.cross.data();
    const double* d = denominator_.data();
    double* f = factor.data();
    for (index_t i = 0; i < factor.size(); ++i) f[i] *= std::max(c[i], 0.0) / (d[i] + inputs.l1 + kEpsilon);
  }

 private:
  DenseMatrix denominator_;
};

}  // namespace

SolverInfo describe_mu_solver() {
  return {"mu", "Lee-Seung multiplicative updates", {}, [](const SolverParams&) -> std::unique_ptr<LocalSolver> {
            return std::make_unique<MuSolver>();
          }};
}

}  // namespace nmf
