// The origin notebook's second method, done right: projected randomized Kaczmarz on the subproblems of
// the alternation, with the equations drawn from the whole subproblem (all of A's rows for the S update,
// all of S's columns for the A update) in proportion to their squared norms, every step projected onto
// the non-negative orthant, and every right-hand side moved by each sampled equation (the whole block of
// the factor at once). Each rank steps on the equations it owns; the driver averages the updated blocks
// over the ranks that share them (Moorman, Tu, Molitor & Needell 2021): one collective per subproblem.
#include <algorithm>
#include <cmath>

#include "nmf/kernels/kaczmarz.hpp"
#include "nmf/kernels/observed.hpp"
#include "nmf/kernels/random.hpp"
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

// The recommender mode's kaczmarz: every step is one rating (i, j), a projected Kaczmarz step on s_j (S half) or
// a_i (A half) with the other fixed (observed_kaczmarz_steps: step length relaxation / (|o|^2 + lambda)). Each rank
// steps through its own block's ratings in an order fixed once from keys drawn per rating by its global index
// (uniform01(seed, kaczmarz, i m + j)), so a run is reproducible at a given P and grid, and any two ratings of a
// block are visited in the same relative order on every grid. By default a half-iteration is one sweep of the
// block (every rating once); --kaczmarz-steps N takes N steps, continuing where the last half stopped.
//
// Distributed as hals is: S's column block J is shared by the grid column, and each of its ranks moved its copy
// of s_j with its own ratings of column j. The copies are combined as their average weighted by those ratings,
//   s_j = sum over the grid column of m_j(I) s_j(I) / m_j,
// one all-reduce of k m_J doubles over the grid column (k n_I over the grid row for A): k (PR - 1) m + k (PC - 1) n
// words... times 2 per all-reduce as the driver counts them, per iteration; memory: the step order, 16 bytes per
// rating. A column whose ratings all sit on one rank keeps that rank's steps in full; a rank without ratings of the
// column has weight 0. The result depends on the grid (the averaging), not on the rank that computes it.
class KaczmarzObservedSolver final : public ObservedSolver {
 public:
  explicit KaczmarzObservedSolver(const SolverParams& params)
      : seed_(params.seed), steps_(params.integer("kaczmarz-steps")), relaxation_(params.real("kaczmarz-relaxation")) {}

  void prepare(ObservedUpdate& u) override {
    const ObservedBlock& r = u.ratings;
    const auto m = static_cast<std::uint64_t>(u.global_cols);
    std::vector<std::pair<double, index_t>> keyed;
    keyed.reserve(static_cast<std::size_t>(r.entries()));
    for (index_t i = 0; i < r.rows; ++i)
      for (index_t p = r.csr.ptr[i]; p < r.csr.ptr[i + 1]; ++p) {
        const std::uint64_t global =
            static_cast<std::uint64_t>(u.row0 + i) * m + static_cast<std::uint64_t>(u.col0 + r.csr.index[p]);
        keyed.emplace_back(uniform01(seed_, RandomStream::kaczmarz, global), p);
      }
    std::sort(keyed.begin(), keyed.end());
    order_.resize(keyed.size());
    rows_.resize(keyed.size());
    std::vector<index_t> row_of(static_cast<std::size_t>(r.entries()));
    for (index_t i = 0; i < r.rows; ++i)
      for (index_t p = r.csr.ptr[i]; p < r.csr.ptr[i + 1]; ++p) row_of[static_cast<std::size_t>(p)] = i;
    for (std::size_t t = 0; t < keyed.size(); ++t) {
      order_[t] = keyed[t].second;
      rows_[t] = row_of[static_cast<std::size_t>(keyed[t].second)];
    }
    count_ratings(r, local_row_counts_, local_col_counts_);
  }

  void update(ObservedUpdate& u, int /*iteration*/) override {
    const index_t steps = steps_ > 0 ? steps_ : static_cast<index_t>(order_.size());
    for (const FactorSide side : {FactorSide::S, FactorSide::A}) {
      observed_kaczmarz_steps(u.ratings, order_, rows_, next_, steps, side == FactorSide::A, u.mu, u.row_bias.data(),
                              u.col_bias.data(), u.a_rowblock, u.s_colblock,
                              side == FactorSide::A ? u.lambda_a : u.lambda_s, relaxation_);
      combine(u, side);
    }
    if (!order_.empty()) next_ = (next_ + steps) % static_cast<index_t>(order_.size());
    refresh_residuals(u.ratings, u.mu, u.row_bias.data(), u.col_bias.data(), u.a_rowblock, u.s_colblock);
  }

 private:
  // The copies of the block on the ranks sharing it, averaged with this rank's ratings per row as weights.
  void combine(ObservedUpdate& u, FactorSide side) {
    const bool rows = side == FactorSide::A;
    if ((rows ? u.a_group : u.s_group).ranks == 1) return;  // one copy: nothing to combine
    DenseMatrix& block = rows ? u.a_rowblock : u.s_colblock;
    const std::vector<double>& local = rows ? local_row_counts_ : local_col_counts_;
    const std::vector<double>& global = rows ? u.row_counts : u.col_counts;
    const index_t length = block.rows();
    sums_.resize(static_cast<std::size_t>(block.size()));
    for (index_t f = 0; f < block.cols(); ++f)
      for (index_t t = 0; t < length; ++t) sums_[static_cast<std::size_t>(f * length + t)] = local[t] * block(t, f);
    u.sum_over_sharing_ranks(side, sums_);
    for (index_t f = 0; f < block.cols(); ++f)
      for (index_t t = 0; t < length; ++t)
        block(t, f) = global[t] > 0 ? sums_[static_cast<std::size_t>(f * length + t)] / global[t] : 0.0;
  }

  std::uint64_t seed_;
  index_t steps_;
  double relaxation_;
  std::vector<index_t> order_, rows_;  // the block's ratings (CSR positions) in step order, and their rows
  std::vector<double> local_row_counts_, local_col_counts_, sums_;
  index_t next_ = 0;  // where the next half-iteration starts in order_
};

}  // namespace

SolverInfo describe_kaczmarz_solver() {
  const SolverOption steps = SolverOption::integer_at_least(
      "kaczmarz-steps", "steps", "0", "N", 0,
      "equations each rank steps through per subproblem and outer iteration; 0 takes an eighth of a sweep (an "
      "eighth of the block's rows, or of its stored entries per column for sparse X), at least k / relaxation; in "
      "the recommender mode: ratings per half-iteration, 0 = one sweep of the block's ratings");
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
          "that share a factor block; in the recommender mode one projected step per rating (README, Recommending)",
          {steps, block, sampling, relaxation},
          [](const SolverParams& params) -> std::unique_ptr<LocalSolver> {
            return std::make_unique<KaczmarzSolver>(params);
          },
          [](const SolverParams& params) -> std::unique_ptr<ObservedSolver> {
            return std::make_unique<KaczmarzObservedSolver>(params);
          }};
}

}  // namespace nmf
