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
        steps_(params.kaczmarz_steps),
        block_(std::max(1, params.kaczmarz_block)),
        relaxation_(params.kaczmarz_relaxation) {
    if (params.kaczmarz_sampling == "norm")
      sampling_ = KaczmarzSampling::norm;
    else if (params.kaczmarz_sampling == "uniform")
      sampling_ = KaczmarzSampling::uniform;
    else
      NMF_THROW(UsageError, "bad --kaczmarz-sampling '" + params.kaczmarz_sampling + "': expected norm or uniform");
  }

  std::string name() const override { return "kaczmarz"; }
  bool uses_gram() const override { return false; }
  bool supports_penalties() const override { return false; }

  void update(const UpdateInputs&, DenseMatrix&) override {
    NMF_THROW(Error, "kaczmarz works on the equations, not on Gram matrices");
  }

  void update_block(const BlockUpdateInputs& in, DenseMatrix& block) override {
    const LocalBlock& x = in.x;
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
    const index_t steps = steps_ > 0 ? steps_ : default_steps(stored, block, in.other_block.rows());
    const KaczmarzStream stream{seed_, static_cast<std::uint64_t>(in.rank) * 2 + (s_side ? 0 : 1),
                                static_cast<std::uint64_t>(in.iteration)};
    kaczmarz_steps(in.other_block, rhs, block, steps, block_, sampling_, stream, relaxation_);
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
  KaczmarzSampling sampling_ = KaczmarzSampling::norm;
  DenseMatrix x_rows_;
  const LocalBlock* transposed_source_ = nullptr;
};

}  // namespace

std::unique_ptr<LocalSolver> make_kaczmarz_solver(const SolverParams& params) {
  return std::make_unique<KaczmarzSolver>(params);
}

}  // namespace nmf
