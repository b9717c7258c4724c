// ALS, the origin notebook's method done right: each factor is the unconstrained least-squares solution
// from the normal equations (gram * F = cross - l1, Cholesky), projected onto F >= 0 by clamping
// negatives. Not a true non-negative least-squares solve (bpp is), but one Cholesky per update.
// With --ls qr the least-squares solution comes from a QR of the other factor instead (UpdateInputs::r_factor).
#include <algorithm>

#include "nmf/kernels/dense.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

class AlsSolver final : public LocalSolver {
 public:
  explicit AlsSolver(bool by_qr) : by_qr_(by_qr) {}
  std::string name() const override { return "als"; }

  void update(const UpdateInputs& inputs, DenseMatrix& factor) override {
    if (inputs.r_factor) {
      solve_by_qr(inputs, factor);
    } else {
      factor = shifted_cross(inputs);
      if (inputs.gram_corrections) {
        solve_each_column(inputs, factor);
      } else if (cholesky_solve(inputs.gram, factor) > 0.0) {
        ++ridges_;
      }
    }
    for (double& v : factor.values()) v = std::max(v, 0.0);
  }

  int ridges_added() const override { return ridges_; }
  bool supports_masks() const override { return !by_qr_; }
  bool supports_penalties() const override { return !by_qr_; }
  bool solves_by_qr() const override { return by_qr_; }

 private:
  // --ls qr: F = R^-1 Q^T X, the least-squares solution without squaring the condition number. A numerically
  // singular R (a zero column in the other factor) has no such solution: then the normal equations with their
  // ridge, from A^T X = R^T (Q^T X).
  void solve_by_qr(const UpdateInputs& inputs, DenseMatrix& factor) {
    factor = inputs.cross;
    if (upper_triangular_solve(*inputs.r_factor, factor)) return;
    const DenseMatrix& r = *inputs.r_factor;
    const index_t k = r.rows();
    for (index_t j = 0; j < factor.cols(); ++j)
      for (index_t p = 0; p < k; ++p) {
        double sum = 0.0;
        for (index_t q = 0; q <= p; ++q) sum += r(q, p) * inputs.cross(q, j);
        factor(p, j) = sum;
      }
    cholesky_solve(inputs.gram, factor);
    ++ridges_;
  }

  bool by_qr_;
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
          {SolverOption::one_of("ls", "ls", {"normal", "qr"},
                                "least squares: normal (Cholesky of the k x k Gram matrix; squares the condition "
                                "number) or qr (ScaLAPACK QR of the distributed other factor, then R^-1 Q^T X: "
                                "accurate for ill-conditioned factors, costs a QR and a product more per update; "
                                "no penalties, no cross-validation)")},
          [](const SolverParams& params) -> std::unique_ptr<LocalSolver> {
            return std::make_unique<AlsSolver>(params.choice("ls") == "qr");
          }};
}

}  // namespace nmf
