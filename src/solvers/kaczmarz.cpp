// The origin notebook's second method, done right: projected randomized Kaczmarz on the subproblems of
// the alternation, with the equations drawn from the whole subproblem (all of A's rows for the S update,
// all of S's columns for the A update) in proportion to their squared norms, every step projected onto
// the non-negative orthant, and every right-hand side moved by each sampled equation (the whole block of
// the factor at once). Each rank steps on the equations it owns; the driver averages the updated blocks
// over the ranks that share them (Moorman, Tu, Molitor & Needell 2021): one collective per subproblem.
#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "nmf/kernels/kaczmarz.hpp"
#include "nmf/kernels/observed.hpp"
#include "nmf/kernels/random.hpp"
#include "nmf/partition.hpp"
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

// The recommender mode's kaczmarz: every step is one rating (i, j), a projected Kaczmarz step on s_j with a_i fixed,
// then one on a_i with s_j fixed (observed_kaczmarz_pass: step length relaxation / (|o|^2 + lambda)), in a fixed
// stratified schedule (DSGD, Gemulla, Nijkamp, Haas and Sismanis 2011) that makes the result independent of the
// number of ranks and of the grid:
//   - rows and columns are cut into B = --kaczmarz-strata even parts of the global indices (BlockPartition::even),
//     so X into B x B virtual blocks, whatever P is;
//   - an iteration is one sweep of B sub-epochs; sub-epoch t steps through the blocks (b, (b + t) mod B) for every
//     b. These share no row and no column, so the result does not depend on which rank takes which;
//   - inside a block the ratings come in the order of keys drawn per rating from the seed and its global index,
//     uniform01(seed, kaczmarz, i m + j) (ties by that index).
// Rank p takes the row strata of part p of BlockPartition::even(B, P) (whole strata: B >= P, and B a multiple of P
// balances them): once, at prepare(), every training rating is sent to the owner of its row stratum (MPI_Alltoallv
// over the grid, three doubles per rating), and the rank keeps A's rows and b_i of its strata for the whole sweep.
// The columns travel instead: rank p holds S's column strata (b + t) mod B of its own b's, each column with c_j
// (k + 1 values), and after every sub-epoch passes its first one to rank p - 1 and receives the next from rank p + 1
// (MPI_Sendrecv on a ring: (k + 1) m / B values per rank and sub-epoch). After B sub-epochs every column stratum is
// back home.
//
// Per iteration the blocks of the driver's grid are the start and the end: A's rows (with b_i) and S's columns (with
// c_j) come from the owners of their layout slices to the owners of their strata (MPI_Alltoallv, k + 1 values per
// row or column that changes rank), and go back (k values each) before an MPI_Allgatherv per grid row and column
// replicates the blocks (share_slices). Summed over the ranks, one iteration moves
//   (2k + 1)(n + m - L) + P (k + 1) m [P > 1] + k ((PC - 1) n + (PR - 1) m)
// values, L the rows and columns whose layout slice and stratum are on the same rank, plus the driver's biases and
// evaluation. Memory per rank beyond hals: its strata's ratings (24 bytes each, about nnz / P ratings; 48 more while
// sorting them once), (k + 1) (n + m) / P values for the factor rows it holds and the buffers of a transfer.
class KaczmarzObservedSolver final : public ObservedSolver {
 public:
  explicit KaczmarzObservedSolver(const SolverParams& params)
      : seed_(params.seed),
        steps_(params.integer("kaczmarz-steps")),
        strata_(static_cast<int>(params.integer("kaczmarz-strata"))),
        relaxation_(params.real("kaczmarz-rating-relaxation")) {}

  void prepare(ObservedUpdate& u) override {
    if (steps_ > 0)
      NMF_THROW_REPLICATED(ExitCode::usage,
                           "--kaczmarz-steps does not apply to the recommender mode: an iteration there is one sweep "
                           "of every rating in B x B virtual blocks (--kaczmarz-strata B)");
    if (strata_ < u.grid_ranks)
      NMF_THROW_REPLICATED(ExitCode::usage, "--kaczmarz-strata " + std::to_string(strata_) + " is less than the " +
                                                std::to_string(u.grid_ranks) +
                                                " ranks: every rank takes whole row strata, so give at least " +
                                                std::to_string(u.grid_ranks) + " (best a multiple of it)");
    k_ = u.a_rowblock.cols();
    row_strata_ = BlockPartition::even(u.global_rows, strata_);
    col_strata_ = BlockPartition::even(u.global_cols, strata_);
    strata_of_rank_ = BlockPartition::even(strata_, u.grid_ranks);
    first_ = strata_of_rank_.begin(u.grid_rank);
    held_ = strata_of_rank_.size(u.grid_rank);
    slot_size_ = (k_ + 1) * col_strata_.max_size();
    route_ratings(u);
  }

  void update(ObservedUpdate& u, int /*iteration*/) override {
    pull(u);
    sweep(u);
    push(u);
    refresh_residuals(u.ratings, u.mu, u.row_bias.data(), u.col_bias.data(), u.a_rowblock, u.s_colblock);
  }

 private:
  struct Range {
    index_t begin = 0, end = 0;
    index_t size() const { return std::max<index_t>(0, end - begin); }
  };
  static Range intersect(Range x, Range y) { return {std::max(x.begin, y.begin), std::min(x.end, y.end)}; }

  // Grid rank r's row strata as global rows, and its column strata at home (at the start of a half).
  Range strata_rows(int r) const {
    return {row_strata_.begin(strata_of_rank_.begin(r)), row_strata_.begin(strata_of_rank_.end(r))};
  }
  Range strata_cols(int r) const {
    return {col_strata_.begin(strata_of_rank_.begin(r)), col_strata_.begin(strata_of_rank_.end(r))};
  }
  // What the layout slices of grid rank `slices_of` share with the strata of grid rank `strata_of`: A's rows and
  // S's columns that travel between the two at pull() (slice owner -> stratum owner) and back at push().
  std::pair<Range, Range> shared(const ObservedUpdate& u, int slices_of, int strata_of) const {
    const OwnedSlices& o = u.owned_slices[static_cast<std::size_t>(slices_of)];
    return {intersect({o.a_begin, o.a_end}, strata_rows(strata_of)),
            intersect({o.s_begin, o.s_end}, strata_cols(strata_of))};
  }

  // Column gj (a home column of this rank) in the slots: k features, then c_j.
  double* home_column(index_t gj) {
    const int q = col_strata_.owner(gj) - first_;
    return slot(q) + (gj - col_strata_.begin(first_ + q)) * (k_ + 1);
  }
  // The slot of held column stratum q (stratum first_ + q + t in sub-epoch t): the slots turn with the ring.
  double* slot(int q) { return slots_.data() + static_cast<index_t>((rotation_ + q) % held_) * slot_size_; }

  // Collective over the grid: every rating to the owner of its row stratum (sizes first, then (i, j, value)
  // triples; indices travel as doubles, exact below 2^53), then sorted into this rank's blocks.
  void route_ratings(ObservedUpdate& u) {
    const ObservedBlock& r = u.ratings;
    const auto ranks = static_cast<std::size_t>(u.grid_ranks);
    std::vector<std::vector<double>> outgoing(ranks);
    for (index_t i = 0; i < r.rows; ++i)
      for (index_t p = r.csr.ptr[i]; p < r.csr.ptr[i + 1]; ++p) {
        const index_t gi = u.row0 + i, gj = u.col0 + r.csr.index[p];
        std::vector<double>& out = outgoing[static_cast<std::size_t>(strata_of_rank_.owner(row_strata_.owner(gi)))];
        out.insert(out.end(), {static_cast<double>(gi), static_cast<double>(gj), r.csr.values[p]});
      }
    std::vector<double> sizes(ranks), their_sizes, triples;
    std::vector<index_t> counts(ranks), their_counts(ranks);
    for (std::size_t d = 0; d < ranks; ++d) {
      sizes[d] = static_cast<double>(outgoing[d].size());
      counts[d] = static_cast<index_t>(outgoing[d].size());
      triples.insert(triples.end(), outgoing[d].begin(), outgoing[d].end());
      std::vector<double>().swap(outgoing[d]);
    }
    const std::vector<index_t> ones(ranks, 1);
    u.exchange_over_grid(sizes, ones, their_sizes, ones);
    for (std::size_t s = 0; s < ranks; ++s) their_counts[s] = static_cast<index_t>(their_sizes[s]);
    std::vector<double> received;
    u.exchange_over_grid(triples, counts, received, their_counts);
    std::vector<double>().swap(triples);
    sort_into_blocks(received, u.global_cols);
  }

  // The received triples as this rank's blocks (q, c) (q: its q-th row stratum, c: the column stratum), each in
  // key order: rows relative to the first row of its strata, columns relative to their stratum.
  void sort_into_blocks(const std::vector<double>& triples, index_t global_cols) {
    struct Keyed {
      index_t block;
      double key;
      std::uint64_t global;
      std::size_t at;
    };
    std::vector<Keyed> keyed(triples.size() / 3);
    const auto m = static_cast<std::uint64_t>(global_cols);
    for (std::size_t t = 0; t < keyed.size(); ++t) {
      const auto gi = static_cast<index_t>(triples[3 * t]), gj = static_cast<index_t>(triples[3 * t + 1]);
      const std::uint64_t global = static_cast<std::uint64_t>(gi) * m + static_cast<std::uint64_t>(gj);
      const index_t block = static_cast<index_t>(row_strata_.owner(gi) - first_) * strata_ + col_strata_.owner(gj);
      keyed[t] = {block, uniform01(seed_, RandomStream::kaczmarz, global), global, 3 * t};
    }
    std::sort(keyed.begin(), keyed.end(), [](const Keyed& x, const Keyed& y) {
      return std::tie(x.block, x.key, x.global) < std::tie(y.block, y.key, y.global);
    });
    const index_t row_begin = row_strata_.begin(first_);
    block_ptr_.assign(static_cast<std::size_t>(held_) * static_cast<std::size_t>(strata_) + 1, 0);
    rows_.resize(keyed.size());
    cols_.resize(keyed.size());
    values_.resize(keyed.size());
    for (std::size_t t = 0; t < keyed.size(); ++t) {
      const auto gi = static_cast<index_t>(triples[keyed[t].at]), gj = static_cast<index_t>(triples[keyed[t].at + 1]);
      ++block_ptr_[static_cast<std::size_t>(keyed[t].block) + 1];
      rows_[t] = gi - row_begin;
      cols_[t] = gj - col_strata_.begin(col_strata_.owner(gj));
      values_[t] = triples[keyed[t].at + 2];
    }
    for (std::size_t b = 1; b < block_ptr_.size(); ++b) block_ptr_[b] += block_ptr_[b - 1];
  }

  // Collective over the grid: A's rows of this rank's strata (k features, then b_i) and S's home columns (then
  // c_j), each from the owner of its layout slice.
  void pull(ObservedUpdate& u) {
    const Range own = strata_rows(u.grid_rank);
    rows_held_.assign(static_cast<std::size_t>(own.size() * (k_ + 1)), 0.0);
    slots_.assign(static_cast<std::size_t>(held_ * slot_size_), 0.0);
    rotation_ = 0;
    send_.clear();
    std::vector<index_t> send_counts, recv_counts;
    for (int d = 0; d < u.grid_ranks; ++d) {
      const auto [rows, cols] = shared(u, u.grid_rank, d);
      for (index_t gi = rows.begin; gi < rows.end; ++gi) {
        for (index_t f = 0; f < k_; ++f) send_.push_back(u.a_rowblock(gi - u.row0, f));
        send_.push_back(u.row_bias[static_cast<std::size_t>(gi - u.row0)]);
      }
      for (index_t gj = cols.begin; gj < cols.end; ++gj) {
        for (index_t f = 0; f < k_; ++f) send_.push_back(u.s_colblock(gj - u.col0, f));
        send_.push_back(u.col_bias[static_cast<std::size_t>(gj - u.col0)]);
      }
      send_counts.push_back((k_ + 1) * (rows.size() + cols.size()));
      const auto [their_rows, their_cols] = shared(u, d, u.grid_rank);
      recv_counts.push_back((k_ + 1) * (their_rows.size() + their_cols.size()));
    }
    u.exchange_over_grid(send_, send_counts, received_, recv_counts);
    const double* in = received_.data();
    for (int s = 0; s < u.grid_ranks; ++s) {
      const auto [rows, cols] = shared(u, s, u.grid_rank);
      for (index_t gi = rows.begin; gi < rows.end; ++gi, in += k_ + 1)
        std::copy(in, in + k_ + 1, rows_held_.data() + (gi - own.begin) * (k_ + 1));
      for (index_t gj = cols.begin; gj < cols.end; ++gj, in += k_ + 1) std::copy(in, in + k_ + 1, home_column(gj));
    }
  }

  // Collective over the grid: the updated rows and home columns (k features each) back to the owners of their
  // layout slices, then each grid row's and column's slices replicated into the driver's blocks.
  void push(ObservedUpdate& u) {
    const Range own = strata_rows(u.grid_rank);
    send_.clear();
    std::vector<index_t> send_counts, recv_counts;
    for (int d = 0; d < u.grid_ranks; ++d) {
      const auto [rows, cols] = shared(u, d, u.grid_rank);
      for (index_t gi = rows.begin; gi < rows.end; ++gi) {
        const double* a = rows_held_.data() + (gi - own.begin) * (k_ + 1);
        send_.insert(send_.end(), a, a + k_);
      }
      for (index_t gj = cols.begin; gj < cols.end; ++gj) {
        const double* s = home_column(gj);
        send_.insert(send_.end(), s, s + k_);
      }
      send_counts.push_back(k_ * (rows.size() + cols.size()));
      const auto [my_rows, my_cols] = shared(u, u.grid_rank, d);
      recv_counts.push_back(k_ * (my_rows.size() + my_cols.size()));
    }
    u.exchange_over_grid(send_, send_counts, received_, recv_counts);
    const OwnedSlices& mine = u.owned_slices[static_cast<std::size_t>(u.grid_rank)];
    DenseMatrix a_slice(k_, mine.a_end - mine.a_begin), s_slice(k_, mine.s_end - mine.s_begin);
    const double* in = received_.data();
    for (int s = 0; s < u.grid_ranks; ++s) {
      const auto [rows, cols] = shared(u, u.grid_rank, s);
      for (index_t gi = rows.begin; gi < rows.end; ++gi, in += k_)
        std::copy(in, in + k_, a_slice.col(gi - mine.a_begin));
      for (index_t gj = cols.begin; gj < cols.end; ++gj, in += k_)
        std::copy(in, in + k_, s_slice.col(gj - mine.s_begin));
    }
    share_slices(u, FactorSide::A, a_slice, received_);
    share_slices(u, FactorSide::S, s_slice, received_);
  }

  // One sweep: B sub-epochs, each stepping through this rank's blocks (first_ + q, first_ + q + t) and then turning
  // the ring of column strata by one. (The driver passes the same lambda for both sides.)
  void sweep(ObservedUpdate& u) {
    for (int t = 0; t < strata_; ++t) {
      for (int q = 0; q < held_; ++q) {
        const auto block = static_cast<std::size_t>(q * strata_ + (first_ + q + t) % strata_);
        const index_t begin = block_ptr_[block], count = block_ptr_[block + 1] - begin;
        observed_kaczmarz_pass(rows_.data() + begin, cols_.data() + begin, values_.data() + begin, count, k_, u.mu,
                               rows_held_.data(), slot(q), u.lambda_s, relaxation_);
      }
      turn_ring(u, t);
    }
  }

  // Collective over the grid: held column stratum 0 (first_ + t) to rank - 1, stratum first_ + t + held_ from
  // rank + 1 into its slot. On one rank the two are the same stratum: only the slots turn.
  void turn_ring(ObservedUpdate& u, int t) {
    if (u.grid_ranks > 1) {
      const int leaving = (first_ + t) % strata_, arriving = (first_ + t + held_) % strata_;
      double* s = slot(0);
      send_.assign(s, s + (k_ + 1) * col_strata_.size(leaving));
      u.shift_ring(send_, received_, (k_ + 1) * col_strata_.size(arriving));
      std::copy(received_.begin(), received_.end(), s);
    }
    rotation_ = (rotation_ + 1) % held_;
  }

  std::uint64_t seed_;
  index_t steps_;
  int strata_;
  double relaxation_;
  index_t k_ = 0;
  BlockPartition row_strata_, col_strata_;  // B parts of the rows and of the columns
  BlockPartition strata_of_rank_;           // B row strata (and home column strata) over the P ranks
  int first_ = 0, held_ = 1;                // this rank's first stratum and how many it takes
  index_t slot_size_ = 0;                   // (k + 1) x the largest column stratum
  int rotation_ = 0;                        // ring turns so far, modulo held_
  std::vector<index_t> block_ptr_;          // this rank's blocks (q, c) at q B + c: their ratings' range
  std::vector<index_t> rows_, cols_;        // per rating in step order: row in the strata, column in its stratum
  std::vector<double> values_;
  std::vector<double> rows_held_;  // A's rows of the strata, k + 1 values each (b_i last)
  std::vector<double> slots_;      // held_ slots of a column stratum, k + 1 values per column (c_j last)
  std::vector<double> send_, received_;
};

}  // namespace

SolverInfo describe_kaczmarz_solver() {
  const SolverOption steps = SolverOption::integer_at_least(
      "kaczmarz-steps", "steps", "0", "N", 0,
      "equations each rank steps through per subproblem and outer iteration; 0 takes an eighth of a sweep (an "
      "eighth of the block's rows, or of its stored entries per column for sparse X), at least k / relaxation; in "
      "the recommender mode (where an iteration is one sweep of every rating) only 0");
  const SolverOption strata = SolverOption::integer_at_least(
      "kaczmarz-strata", "strata", "8", "B", 1,
      "recommender mode: rows and columns cut into B parts, the B x B virtual blocks stepped through in B strata "
      "per iteration (DSGD), so that the result does not depend on the number of ranks P; needs B >= P (each rank "
      "takes whole strata; a multiple of P balances them)");
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
  // Its own default: one rating's step is a much smaller subproblem than plain NMF's row equations, and 0.1
  // overfits FilmTrust within 10 sweeps; 0.02 is what validation splits of the training ratings chose (README).
  const SolverOption rating_relaxation = SolverOption::real_between(
      "kaczmarz-rating-relaxation", "rating_relaxation", "0.02", "L", 0, 2,
      "recommender mode: step length of each rating's projected step relative to the full projection, 0 < L < 2 "
      "(--kaczmarz-relaxation is plain NMF's)");
  return {
      "kaczmarz",
      "projected randomized Kaczmarz on the rows of each subproblem, norm-weighted, averaged over the ranks "
      "that share a factor block; in the recommender mode one projected step per rating in a stratified schedule that "
      "does not depend on the number of ranks (README, Recommending)",
      {steps, block, sampling, relaxation, strata, rating_relaxation},
      [](const SolverParams& params) -> std::unique_ptr<LocalSolver> {
        return std::make_unique<KaczmarzSolver>(params);
      },
      [](const SolverParams& params) -> std::unique_ptr<ObservedSolver> {
        return std::make_unique<KaczmarzObservedSolver>(params);
      }};
}

}  // namespace nmf
