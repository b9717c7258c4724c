// Alternating non-negative least squares with every subproblem solved exactly by block principal
// pivoting (Kim & Park 2011). The previous factor seeds the passive sets, so late iterations need few
// exchanges, and columns sharing a passive set share one Cholesky factorization.
#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/nnls.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

class BppSolver final : public LocalSolver {
 public:
  std::string name() const override { return "bpp"; }

  void update(const UpdateInputs& inputs, DenseMatrix& factor) override {
    DenseMatrix gram = inputs.gram;
    if (stabilize_gram(gram) > 0.0) ++ridges_;
    nnls_block_principal_pivoting(gram, shifted_cross(inputs), factor);
  }

  int ridges_added() const override { return ridges_; }

 private:
  int ridges_ = 0;
};

}  // namespace

SolverInfo describe_bpp_solver() {
  return {"bpp",
          "alternating non-negative least squares, each subproblem solved exactly by block principal pivoting "
          "(Kim & Park 2011)",
          {},
          [](const SolverParams&) -> std::unique_ptr<LocalSolver> { return std::make_unique<BppSolver>(); }};
}

}  // namespace nmf
