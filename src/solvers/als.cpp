// ALS, the origin notebook's method done right: each factor is the unconstrained least-squares solution
// from the normal equations (gram * F = cross - l1, Cholesky), projected onto F >= 0 by clamping
// negatives. Not a true non-negative least-squares solve (bpp is), but one Cholesky per update.
// With --ls qr the least-squares solution comes from a QR of the other factor instead (UpdateInputs::r_factor).
#include <algorithm>

#include "nmf/kernels/dense.hpp"
#include "nmf/kernels/observed.hpp"
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

// The recommender mode's als: ALS-WR (Zhou, Wilkinson, Schreiber and Pan 2008) with an exact non-negative solve.
// With the biases fixed (the driver updates them first, as for hals), each column s_j of S solves
//   min over s_j >= 0 of sum_i (x_ij - mu - b_i - c_j - a_i . s_j)^2 + lambda m_j |s_j|^2   (i: j's ratings)
// from its own k x k normal equations, by block principal pivoting (solve_observed_groups); then each row a_i of A
// likewise. S goes first: it starts at 0 while A starts random.
//
// Distribution (as Spark's blocked ALS): the grid block's ratings stay where they are for the residuals and the
// loss, and are copied once more, at prepare(), by owner of the factor row they determine: rank (I, J) owns slice
// (I, J) of A's row block I with every rating of those rows (they come from the blocks of grid row I), and slice
// (I, J) of S's column block J with every rating of those columns (from grid column J). Each rank also plans,
// once, which factor rows its block's ratings make each slice owner need: T_A(d) = the columns of block (I, J)
// rated in the rows of slice (I, d), and T_S(d) = the rows of block (I, J) rated in the columns of slice (d, J).
// One iteration then moves, per half, only factor rows (values per rank received from the other ranks):
//   S half: (k + 1) sum over d != me of |T_S(me) of rank d| in the grid column (touched rows of A, b_i with each)
//           + k (m_J - own S slice) to replicate the updated S block over the grid column (MPI_Allgatherv);
//   A half: (k + 1) sum over d != me of |T_A(me) of rank d| in the grid row (touched rows of S, c_j with each)
//           + k (n_I - own A slice) over the grid row.
// Summed over the ranks: (k + 1) (T_S + T_A) + k ((PR - 1) m + (PC - 1) n) doubles, where T_A counts the
// distinct (A slice, column) pairs among the ratings whose block is not on the slice's owner (so T_A <= nnz and
// T_A <= (PC - 1) m PR: each column reaches at most the PC - 1 other slices of each grid row), and T_S the distinct
// (S slice, row) pairs likewise (T_S <= nnz, T_S <= (PR - 1) n PC). No k x k matrix and no rating moves per
// iteration. Memory per rank beyond hals: the slices' ratings (16 bytes per rating: the touched row's index
// and the value, about 2 nnz / P ratings for both sides), the plan (8 bytes per touched row) and the send and
// receive buffers of one half, 8 (k + 1) (touched rows sent + received) bytes, at most 16 (k + 1) nnz / P; while
// planning, once, 48 bytes per rating of the block (three doubles sent and received). The README (Recommending) adds
// the biases' and the evaluation's all-reduces to the words; tests/mpi/test_recommender.cpp checks the total.
class AlsObservedSolver final : public ObservedSolver {
 public:
  void prepare(ObservedUpdate& u) override {
    s_side_.plan(u, FactorSide::S);
    a_side_.plan(u, FactorSide::A);
  }

  void update(ObservedUpdate& u, int /*iteration*/) override {
    s_side_.solve(u);
    a_side_.solve(u);
    refresh_residuals(u.ratings, u.mu, u.row_bias.data(), u.col_bias.data(), u.a_rowblock, u.s_colblock);
  }

 private:
  // One side's plan and buffers. "Own" is the side being solved (rows of A, or columns of X for S), "other" the
  // factor it is solved against.
  class Side {
   public:
    // Collective over the side's group: sends every rating of the block to the owner of its own index's slice,
    // with the position of its other index in the list of other rows that owner will receive from this rank.
    void plan(ObservedUpdate& u, FactorSide side) {
      side_ = side;
      const SharingGroup& group = side == FactorSide::A ? u.a_group : u.s_group;
      const ObservedBlock& r = u.ratings;
      const bool rows = side == FactorSide::A;
      const index_t others = rows ? r.cols : r.rows;
      touched_.assign(static_cast<std::size_t>(group.ranks), {});
      std::vector<index_t> slot(static_cast<std::size_t>(others), -1);
      std::vector<double> headers, triples;  // per destination: [ratings, touched], then (own, slot, value)
      for (int d = 0; d < group.ranks; ++d) {
        const index_t begin = group.slice_offsets[d], end = group.slice_offsets[d + 1];
        std::vector<index_t>& touched = touched_[static_cast<std::size_t>(d)];
        const std::size_t before = triples.size();
        for (index_t own = begin; own < end; ++own)
          for_each_rating(r, rows, own, [&](index_t other, double value) {
            if (slot[other] < 0) {  // first rating of `other` for this destination
              slot[other] = static_cast<index_t>(touched.size());
              touched.push_back(other);
            }
            triples.insert(triples.end(), {static_cast<double>(own - begin), static_cast<double>(slot[other]), value});
          });
        for (index_t other : touched) slot[other] = -1;
        headers.insert(headers.end(),
                       {static_cast<double>((triples.size() - before) / 3), static_cast<double>(touched.size())});
      }
      // Sizes first (two values to each rank), then the ratings; indices travel as doubles (exact below 2^53).
      std::vector<double> their_headers;
      u.exchange(side, headers, std::vector<index_t>(static_cast<std::size_t>(group.ranks), 2), their_headers,
                 std::vector<index_t>(static_cast<std::size_t>(group.ranks), 2));
      std::vector<index_t> triple_counts(static_cast<std::size_t>(group.ranks)),
          their_triple_counts(triple_counts.size());
      send_counts_.assign(triple_counts.size(), 0);
      recv_counts_.assign(triple_counts.size(), 0);
      std::vector<index_t> base(triple_counts.size() + 1, 0);  // first received row from each rank
      const index_t k = u.a_rowblock.cols();
      for (std::size_t d = 0; d < triple_counts.size(); ++d) {
        triple_counts[d] = 3 * static_cast<index_t>(headers[2 * d]);
        their_triple_counts[d] = 3 * static_cast<index_t>(their_headers[2 * d]);
        send_counts_[d] = (k + 1) * static_cast<index_t>(touched_[d].size());
        recv_counts_[d] = (k + 1) * static_cast<index_t>(their_headers[2 * d + 1]);
        base[d + 1] = base[d] + static_cast<index_t>(their_headers[2 * d + 1]);
      }
      std::vector<double> received;
      u.exchange(side, triples, triple_counts, received, their_triple_counts);
      group_ratings(received, their_triple_counts, base,
                    group.slice_offsets[group.position + 1] - group.slice_offsets[group.position]);
    }

    // Collective over the side's group: the other factor's touched rows in, the owned slice solved, the solved
    // slices gathered into the whole block on every rank of the group.
    void solve(ObservedUpdate& u) {
      const bool rows = side_ == FactorSide::A;
      const SharingGroup& group = rows ? u.a_group : u.s_group;
      DenseMatrix& own = rows ? u.a_rowblock : u.s_colblock;
      const DenseMatrix& other = rows ? u.s_colblock : u.a_rowblock;
      const std::vector<double>& other_bias = rows ? u.col_bias : u.row_bias;
      const index_t k = own.cols();
      send_.clear();
      for (const std::vector<index_t>& touched : touched_)
        for (index_t o : touched) {
          for (index_t f = 0; f < k; ++f) send_.push_back(other(o, f));
          send_.push_back(other_bias[static_cast<std::size_t>(o)]);
        }
      u.exchange(side_, send_, send_counts_, received_, recv_counts_);

      const index_t begin = group.slice_offsets[group.position];
      const index_t count = group.slice_offsets[group.position + 1] - begin;
      DenseMatrix slice(k, count);  // warm start: the current values
      for (index_t g = 0; g < count; ++g)
        for (index_t f = 0; f < k; ++f) slice(f, g) = own(begin + g, f);
      const std::vector<double>& counts = rows ? u.row_counts : u.col_counts;
      const std::vector<double>& own_bias = rows ? u.row_bias : u.col_bias;
      solve_observed_groups(mine_, received_, k, u.mu, own_bias.data() + begin, counts.data() + begin,
                            rows ? u.lambda_a : u.lambda_s, slice);

      share_slices(u, side_, slice, block_values_);
    }

   private:
    template <class Visit>
    static void for_each_rating(const ObservedBlock& r, bool rows, index_t own, Visit visit) {
      if (rows) {
        for (index_t p = r.csr.ptr[own]; p < r.csr.ptr[own + 1]; ++p) visit(r.csr.index[p], r.csr.values[p]);
      } else {
        for (index_t q = r.csc_ptr[own]; q < r.csc_ptr[own + 1]; ++q)
          visit(r.csc_row[q], r.csr.values[r.csc_to_csr[q]]);
      }
    }

    // The received (own, slot, value) triples as this rank's slice ratings grouped by own index, the slot of
    // sender s shifted by base[s] into the buffer of received rows (a counting sort: stable, so a group's
    // ratings come in sender order).
    void group_ratings(const std::vector<double>& triples, const std::vector<index_t>& counts,
                       const std::vector<index_t>& base, index_t groups) {
      mine_ = GroupedRatings{};
      mine_.ptr.assign(static_cast<std::size_t>(groups + 1), 0);
      for (std::size_t t = 0; t < triples.size(); t += 3) ++mine_.ptr[static_cast<std::size_t>(triples[t]) + 1];
      for (index_t g = 0; g < groups; ++g) mine_.ptr[g + 1] += mine_.ptr[g];
      mine_.other.resize(triples.size() / 3);
      mine_.value.resize(triples.size() / 3);
      std::vector<index_t> next(mine_.ptr.begin(), mine_.ptr.end() - 1);
      std::size_t t = 0;
      for (std::size_t s = 0; s < counts.size(); ++s)
        for (index_t e = 0; e < counts[s]; e += 3, t += 3) {
          const index_t at = next[static_cast<std::size_t>(triples[t])]++;
          mine_.other[at] = base[s] + static_cast<index_t>(triples[t + 1]);
          mine_.value[at] = triples[t + 2];
        }
    }

    FactorSide side_ = FactorSide::A;
    std::vector<std::vector<index_t>> touched_;  // per group rank: the other rows it receives from this rank
    std::vector<index_t> send_counts_, recv_counts_;
    GroupedRatings mine_;  // the owned slice's ratings; other = row of received_
    std::vector<double> send_, received_, block_values_;
  };

  Side s_side_, a_side_;
};

}  // namespace

SolverInfo describe_als_solver() {
  return {"als",
          "alternating least squares, the origin notebook's method: normal equations solved by Cholesky, negatives "
          "clamped to zero (not a true NNLS); in the recommender mode ALS-WR: each row's own k x k system from its "
          "ratings, solved exactly by block principal pivoting (--ls does not apply there)",
          {SolverOption::one_of("ls", "ls", {"normal", "qr"},
                                "least squares: normal (Cholesky of the k x k Gram matrix; squares the condition "
                                "number) or qr (ScaLAPACK QR of the distributed other factor, then R^-1 Q^T X: "
                                "accurate for ill-conditioned factors, costs a QR and a product more per update; "
                                "no penalties, no cross-validation)")},
          [](const SolverParams& params) -> std::unique_ptr<LocalSolver> {
            return std::make_unique<AlsSolver>(params.choice("ls") == "qr");
          },
          [](const SolverParams&) -> std::unique_ptr<ObservedSolver> { return std::make_unique<AlsObservedSolver>(); }};
}

}  // namespace nmf
