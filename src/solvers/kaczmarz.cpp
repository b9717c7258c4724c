// The origin notebook's second method, done right: projected randomized Kaczmarz on the subproblems of
// the alternation, with the equations drawn from the whole subproblem (all of A's rows for the S update,
// all of S's columns for the A update) in proportion to their squared norms, every step projected onto
// the non-negative orthant, and every right-hand side moved by each sampled equation (the whole block of
// the factor at once). Each rank steps on the equations it owns; the driver averages the updated blocks
// over the ranks that share them (Moorman, Tu, Molitor & Needell 2021): one collective per subproblem.
#include <algorithm>
#include <cmath>

#include "nmf/kernels/kaczmarz.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

namespace {

// With no --kaczmarz-steps, a subproblem takes this fraction of a sweep: an eighth of the rows of the
// block (dense X), or an eighth of the block's average stored entries per column (sparse X, so the work
// follows the nonzeros), but at least k / relaxation steps (see default_steps). Measured at one rank: one
// outer iteration then costs about one ALS iteration on the planted 2000 x 1500 problem (k = 10) and 1.6 on
// Fashion-MNIST (k = 20, where the floor doubles the A update's steps); a sixteenth of a sweep cost 1.4 there
// but left 4-rank runs of the planted problem short of convergence after 200 iterations.
constexpr double kDefaultSweepFraction = 0.125;

class KaczmarzSolver final : public LocalSolver {
 public:
  explicit KaczmarzSolver(const SolverParams& params)
      : seed_(params.seed),
        steps_(params.integer("kaczmarz-steps")),
        block_(static_cast<int>(params.integer("kaczmarz-block"))),
        relaxation_(params.real("kaczmarz-relaxation")),
        sampling_(params.choice("kaczmarz-sampling") == "uniform" ? KaczmarzSampling::uniform
                                                                  : KaczmarzSampling::norm) {}

  std::string name() const override { return "kaczmarz"; }
  UpdateScope scope() const override { return UpdateScope::gathered_block; }
  bool supports_penalties() const override { return false; }

  void update(const UpdateInputs& in, DenseMatrix& block) override {
    const LocalBlock& x = *in.x;
    const bool s_side = in.side == FactorSide::S;
    KaczmarzRhs rhs;
    if (x.storage == Storage::sparse) {
      rhs.compressed = s_side ? &x.csr : &x.csc;  // equation r's stored values, row r of X or column r
    } else if (s_side) {
      rhs.dense = &rows_of(x);  // X's rows as columns: one contiguous run per equation
    } else {
      rhs.dense = &x.dense;  // X's columns are the A update's equations
    }
    const index_t stored = x.storage == Storage::sparse ? x.csr.nnz() : x.rows * x.cols;
    const index_t steps = steps_ > 0 ? steps_ : default_steps(stored, block, in.other_block->rows());
    const KaczmarzStream stream{seed_, static_cast<std::uint64_t>(in.rank) * 2 + (s_side ? 0 : 1),
                                static_cast<std::uint64_t>(in.iteration)};
    kaczmarz_steps(*in.other_block, rhs, block, steps, block_, sampling_, stream, relaxation_);
  }

 private:
  // A fraction of a sweep, so the work follows the stored entries; but at least k / relaxation steps, since
  // a step moves only `relaxation` of the way and a k-dimensional unknown needs about k of them: without
  // this floor a small block (the 12 x 10 example: 2 steps) would hardly move.
  index_t default_steps(index_t stored, const DenseMatrix& block, index_t k) const {
    const double sweep_part =
        kDefaultSweepFraction * static_cast<double>(stored) / static_cast<double>(std::max<index_t>(1, block.cols()));
    return static_cast<index_t>(std::ceil(std::max(sweep_part, static_cast<double>(k) / relaxation_)));
  }

  // X_ij's rows, stored as the columns of X_ij^T; made once, on the first S update (dense X only: twice
  // the block's memory, the price of reading a sampled row contiguously).
  const DenseMatrix& rows_of(const LocalBlock& x) {
    if (transposed_source_ != &x) {
      x_rows_.reshape(x.cols, x.rows);
      for (index_t j = 0; j < x.cols; ++j)
        for (index_t i = 0; i < x.rows; ++i) x_rows_(j, i) = x.dense(i, j);
      transposed_source_ = &x;
    }
    return x_rows_;
  }

  std::uint64_t seed_;
  index_t steps_;
  int block_;
  double relaxation_;
  KaczmarzSampling sampling_;
  DenseMatrix x_rows_;
  const LocalBlock* transposed_source_ = nullptr;
};

}  // namespace

SolverInfo describe_kaczmarz_solver() {
  const SolverOption steps = SolverOption::integer_at_least(
      "kaczmarz-steps", "steps", "0", "N", 0,
      "equations each rank steps through per subproblem and outer iteration; 0 takes an eighth of a sweep (an "
      "eighth of the block's rows, or of its stored entries per column for sparse X), at least k / relaxation");
  const SolverOption block = SolverOption::integer_at_least(
      "kaczmarz-block", "block", "1", "B", 1,
      "equations per step; B > 1 solves each block's least-squares problem on BLAS-3 (Needell & Tropp 2014); B > k "
      "works best");
  const SolverOption sampling = SolverOption::one_of(
      "kaczmarz-sampling", "sampling", {"norm", "uniform"},
      "draw equations with probability proportional to their squared norms (Strohmer & Vershynin 2009) or "
      "uniformly");
  const SolverOption relaxation = SolverOption::real_between(
      "kaczmarz-relaxation", "relaxation", "0.1", "L", 0, 2,
      "step length relative to the full projection, 0 < L < 2; full steps (1) leave noisy data with a large spread, "
      "short ones converge to a lower error (README, Solvers)");
  return {"kaczmarz",
          "projected randomized Kaczmarz on the rows of each subproblem, norm-weighted, averaged over the ranks "
          "that share a factor block",
          {steps, block, sampling, relaxation},
          [](const SolverParams& params) -> std::unique_ptr<LocalSolver> {
            return std::make_unique<KaczmarzSolver>(params);
          }};
}

}  // namespace nmf
