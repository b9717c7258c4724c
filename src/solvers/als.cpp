// ALS, the origin notebook's method done right: each factor is the unconstrained least-squares solution
// from the normal equations (gram * F = cross - l1, Cholesky), projected onto F >= 0 by clamping
// negatives. Not a true non-negative least-squares solve (bpp is), but one Cholesky per update.
#include <algorithm>

#include "nmf/kernels/dense.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

class AlsSolver final : public LocalSolver {
 public:
  std::string name() const override { return "als"; }

  void update(const UpdateInputs& inputs, DenseMatrix& factor) override {
    factor = shifted_cross(inputs);
    if (inputs.gram_corrections) {
      solve_each_column(inputs, factor);
    } else if (cholesky_solve(inputs.gram, factor) > 0.0) {
      ++ridges_;
    }
    for (double& v : factor.values()) v = std::max(v, 0.0);
  }

  int ridges_added() const override { return ridges_; }
  bool supports_masks() const override { return true; }

 private:
  // Masked losses give every column its own Gram matrix, hence its own factorization.
  void solve_each_column(const UpdateInputs& inputs, DenseMatrix& factor) {
    const index_t k = factor.rows();
    DenseMatrix gram_j, column(k, 1);
    bool ridged = false;
    for (index_t j = 0; j < factor.cols(); ++j) {
      masked_gram(inputs, j, gram_j);
      std::copy(factor.col(j), factor.col(j) + k, column.data());
      ridged = cholesky_solve(gram_j, column) > 0.0 || ridged;
      std::copy(column.data(), column.data() + k, factor.col(j));
    }
    if (ridged) ++ridges_;
  }

  int ridges_ = 0;
};

}  // namespace

SolverInfo describe_als_solver() {
  return {"als",
          "alternating least squares, the origin notebook's method: normal equations solved by Cholesky, negatives "
          "clamped to zero (not a true NNLS)",
          {},
          [](const SolverParams&) -> std::unique_ptr<LocalSolver> { return std::make_unique<AlsSolver>(); }};
}

}  // namespace nmf
