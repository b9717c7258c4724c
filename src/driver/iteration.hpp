// Internal to the driver: the state of one factorization run and the steps an iteration is made of. run() in
// factorization.cpp calls the steps in the order of the algorithm; each step says what it computes and which
// collective it makes. Names say how each matrix is distributed: `_local` is this rank's slice, `_rowblock` /
// `_colblock` a block gathered over the grid row / column, `_replicated` the same on every rank, `_partial`
// this block's share of a sum over the grid, consumed by its reduce-scatter.
#pragma once

#include <memory>
#include <vector>

#include "nmf/distribution/collectives.hpp"
#include "nmf/driver/factorization.hpp"
#include "nmf/kernels/products.hpp"
#include "nmf/linalg/slice_products.hpp"

namespace nmf::detail {

class Iteration {
 public:
  Iteration(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver, Loss& loss, const DriverOptions& options,
            Factors& factors, bool projected_gradient);

  // The loss's setup (collective).
  void start_loss() { loss_.start(collectives_); }
  // Iteration seconds count from here (rank 0's clock), plus `seconds_before` (a resumed run's).
  void start_clock(double seconds_before = 0);

  // Replaces S (from A^T X and A^T A) or A (from S X^T and S S^T) by the solver's update; a solver that works
  // on the gathered block updates it and the ranks sharing it average their versions (one all-reduce).
  void update(FactorSide side, int iteration);

  // S's column block (all-gather over the grid column if `gather`: not when the update left it gathered) and
  // S S^T with sum(S) (one all-reduce).
  void share_s(bool gather);

  // S X^T for this rank's rows of A: the local product, made the loss's, reduce-scattered over the grid row.
  void product_s_xt();

  // A's row block (all-gather over the grid row if `gather`) and A^T A, all-reduced with sum(A), rank 0's clock
  // and, if `evaluate`, the sums the loss needs. The record of `iteration`, with the loss and the objective if
  // `evaluate`.
  IterationRecord share_a(int iteration, bool evaluate, bool gather);

  // Rescales column q of A and row q of S by d_q and 1/d_q so that their norms match (A S unchanged), with
  // everything formed from them: the gathered blocks, the Gram matrices and S X^T.
  void balance_scales();
  bool balances() const { return balance_; }

  // A^T X for this rank's columns of S: the local product, made the loss's, reduce-scattered over the grid
  // column.
  void product_at_x();

  // The norm of the projected gradient at the current factors (Lin 2007), from A^T X and S X^T (one
  // all-reduce); relative to its value at the first call.
  double projected_gradient();

  // Fills the loss and the objective of the current factors into `record` when its iteration skipped them
  // (--eval-every): S X^T again, one all-reduce.
  void evaluate_now(IterationRecord& record);

  // Whether the updates read A^T X and S X^T and replace the slices (every solver but those that update the
  // gathered blocks, which leave the blocks gathered).
  bool updates_slices() const { return solver_.scope() == UpdateScope::slice; }

  // What an iteration leaves for the next that cannot be formed again bit for bit from the factors (a
  // checkpoint saves it): A^T A after the scales were balanced (scaled, not recomputed), and the initial
  // projected gradient norm.
  std::vector<double> carried_state() const;
  void restore_carried_state(const std::vector<double>& values);

  double bytes_moved() const { return collectives_.bytes_moved(); }
  const PhaseSeconds& phases() const { return phases_; }
  void reset_phases() { phases_ = PhaseSeconds{}; }
  int direct_evaluations() const { return direct_evaluations_; }

 private:
  void update_slice(FactorSide side, int iteration);
  // The QR route (LocalSolver::solves_by_qr): the other factor's thin QR (ScaLAPACK, collective) and Q^T X by the
  // distributed product with Q in the place of the factor, handed to the solver with R.
  void update_slice_by_qr(FactorSide side, int iteration);
  void update_gathered_block(FactorSide side, int iteration);
  void all_reduce_gram(const DenseMatrix& slice, DenseMatrix& gram_replicated, std::vector<double>& extras);
  void form_product(FactorSide side);
  void fill_objective(IterationRecord& record, double x_dot_as, const std::vector<double>& loss_sums);

  const ProcessGrid& grid_;
  const DistMatrix& x_;
  LocalSolver& solver_;
  Loss& loss_;
  const DriverOptions& options_;
  Factors& f_;  // the slices: f_.a_t (k x this rank's rows of A), f_.s (k x this rank's columns of S)
  const index_t k_;
  const LocalProducts products_;
  std::unique_ptr<SliceProducts> qr_products_;  // the QR route's products, made at its first update
  const bool want_pg_, balance_;
  std::vector<index_t> a_counts_in_row_;  // rows of A held by each rank of this grid row
  std::vector<index_t> s_counts_in_col_;  // columns of S held by each rank of this grid column

  DenseMatrix a_t_rowblock_;       // k x n_i: A's row block i, gathered over the grid row
  DenseMatrix s_colblock_;         // k x m_j: S's column block j, gathered over the grid column
  DenseMatrix gram_a_replicated_;  // A^T A
  DenseMatrix gram_s_replicated_;  // S S^T
  double sum_a_ = 0, sum_s_ = 0;   // sums of all entries of A and of S

  // One of the two products with X, as the loss makes it, and (for a loss that leaves entries out) the Gram
  // corrections of its columns (k*k each). `partial` is this block's share, `local` the sum for this rank's
  // columns of S (A^T X) or rows of A (S X^T). On a communicator of one rank the sum is the share itself, so
  // the product is formed in `local` and `partial` stays empty (no second copy of a factor-sized matrix).
  struct Product {
    DenseMatrix partial, local;
    DenseMatrix corrections_partial, corrections_local;
  };
  Product at_x_;  // A^T X, reduce-scattered over the grid column
  Product s_xt_;  // S X^T, reduce-scattered over the grid row

  double pg_initial_ = 0;
  std::vector<double> reduce_buffer_;
  FactorCollectives collectives_;
  PhaseSeconds phases_;
  double start_time_ = 0;
  int direct_evaluations_ = 0;
};

}  // namespace nmf::detail
