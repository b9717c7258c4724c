// HALS (Cichocki & Phan 2009): exact minimisation over one row of S (or one column of A) at a time,
//   s_q <- max(eps, s_q + (c_q - l1 - G_q s) / G_qq),
// swept over q = 1..k. The columns of a slice are independent subproblems, so the sweep runs column by
// column with the k values of a column in cache; this gives exactly the row-at-a-time HALS iterates.
// Repeating the sweeps with the same G and C (--inner, Gillis & Glineur 2012) is cheap: no new products.
#include <algorithm>

#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

// The floor that keeps a row of S or a column of A from becoming exactly zero, whose zero Gram diagonal
// would stop it from ever coming back (Gillis & Glineur use the same 1e-16).
constexpr double kFloor = 1e-16;

class HalsSolver final : public LocalSolver {
 public:
  explicit HalsSolver(int sweeps) : sweeps_(std::max(1, sweeps)) {}
  std::string name() const override { return "hals"; }
  bool wants_balanced_scaling() const override { return true; }

  void update(const UpdateInputs& inputs, DenseMatrix& factor) override {
    const DenseMatrix& g = inputs.gram;
    const DenseMatrix rhs = shifted_cross(inputs);
    const index_t k = g.rows();
    for (int sweep = 0; sweep < sweeps_; ++sweep) {
      for (index_t j = 0; j < factor.cols(); ++j) {
        double* f = factor.col(j);
        const double* c = rhs.col(j);
        for (index_t q = 0; q < k; ++q) {
          const double diagonal = g(q, q);
          if (!(diagonal > 0.0)) continue;  // the other factor's column q is zero: s_q is arbitrary, keep it
          const double* g_q = g.col(q);     // G is symmetric: column q is row q
          double gradient = -c[q];
          for (index_t p = 0; p < k; ++p) gradient += g_q[p] * f[p];
          f[q] = std::max(kFloor, f[q] - gradient / diagonal);
        }
      }
    }
  }

 private:
  int sweeps_;
};

}  // namespace

std::unique_ptr<LocalSolver> make_hals_solver(const SolverParams& params) {
  return std::make_unique<HalsSolver>(params.inner_sweeps);
}

}  // namespace nmf
