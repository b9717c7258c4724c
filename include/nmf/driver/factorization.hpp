// The distributed alternating-update driver, in the style of MPI-FAUN (Kannan, Ballard and Park): the
// driver owns every distributed product and collective; the LocalSolver supplies the local update and the Loss
// says what is minimised.
//
// It minimises the penalized objective
//   f(A, S) = 1/2 loss(X, A S) + l1_A sum(A) + l2_A/2 ||A||_F^2 + l1_S sum(S) + l2_S/2 ||S||_F^2
// over A >= 0, S >= 0 (sum(A) is the element-wise L1 norm, as A >= 0), where the loss is ||X - A S||_F^2 unless
// another one is given (cross-validation's held-out loss).
//
// One iteration, on rank (i, j) of a pr x pc grid (src/driver/factorization.cpp reads in this order):
//   update S      S slice  = solver(A^T A + l2_S I, A^T X slice, l1_S)        local
//   share S       S_colblock = all-gather over the grid column; S S^T = all-reduce of local SYRKs
//   S X^T         partial = S_colblock X_ij^T, reduce-scattered over the grid row to this rank's rows of A
//   update A      A slice  = solver(S S^T + l2_A I, S X^T slice, l1_A)        local
//   share A       A_rowblock = all-gather over the grid row; A^T A (+ the evaluation's sums) = all-reduce
//   evaluate      the loss and the objective, from quantities at hand (see nmf/driver/loss.hpp)
//   balance       (hals) equal column norms of A and row norms of S; A S unchanged
//   A^T X         partial = At_rowblock X_ij, reduce-scattered over the grid column: the next S update's
//   gradient      the projected gradient (with --tol-pg), from both products at the current factors
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/driver/initialization.hpp"  // random_factors, nndsvd_factors
#include "nmf/driver/checkpoint.hpp"
#include "nmf/driver/loss.hpp"
#include "nmf/driver/monitor.hpp"
#include "nmf/factors.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

struct Penalties {
  double l1_a = 0, l2_a = 0, l1_s = 0, l2_s = 0;
  bool any() const { return l1_a != 0 || l2_a != 0 || l1_s != 0 || l2_s != 0; }
};

struct DriverOptions {
  Penalties penalties;
  int eval_every = 1;  // evaluate the objective every N iterations (always at the first and the last)
  // The loss (nmf/driver/loss.hpp); null: ||X - A S||^2 over all of X. With a held-out loss, relative_error
  // and the objective are the training loss's, and heldout_error is reported.
  Loss* loss = nullptr;
};

// Seconds spent per phase, summed over iterations (this rank's clock).
struct PhaseSeconds {
  double local_products = 0;  // A^T X and S X^T on the local block
  double gram = 0;            // local SYRK of the factor slices
  double collectives = 0;     // all-gathers, reduce-scatters, all-reduces
  double update = 0;          // the solver's local update
  double evaluation = 0;      // objective, projected gradient, scale balancing
};

struct FactorizationResult {
  Factors factors;
  int iterations = 0;
  std::string stop_reason;
  double relative_error = 0;
  double objective = 0;
  double heldout_error = std::numeric_limits<double>::quiet_NaN();  // with a held-out loss
  std::vector<IterationRecord> history;  // evaluated iterations, iteration 0 (initial factors) first
  double seconds = 0;                    // iterations only
  std::string init;                      // how the initial factors were made (--init; a perturbed restart says so)
  double init_seconds = 0;               // making them, the SVD included when this job computed it
  double svd_seconds = 0;                // the randomized SVD (SVD-based --init), whichever job computed it
  double comm_bytes_per_iteration = 0;   // summed over ranks
  PhaseSeconds phases;
  int ridges = 0;
  int direct_error_evaluations = 0;  // evaluations that fell back to the direct residual
  // Checkpoints (nmf/driver/checkpoint.hpp): where the run resumed from, the last one written, their cost.
  std::string resumed_from, last_checkpoint;
  int checkpoints_written = 0;
  double checkpoint_seconds = 0;
};

class AlternatingFactorization {
 public:
  // x, grid and solver must outlive this object. Collective calls happen in run() only.
  AlternatingFactorization(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver,
                           DriverOptions options = {});

  // Collective over grid.comm(). Iterates until a stop rule fires. The observer (may be null) sees every
  // evaluated iteration on every rank; loggers print on one rank. The hook (may be null; nmf/driver/checkpoint.hpp)
  // is called at the end of every iteration (signals, the time limit, checkpoints) and may restore the state of
  // an earlier run before the first one (--resume), `initial` then being overwritten.
  FactorizationResult run(Factors initial, const StopRules& rules, IterationObserver* observer,
                          IterationEndHook* hook = nullptr);

 private:
  // Throws UsageError (the same on every rank) if the solver, the loss and the stop rules do not go together.
  void check(bool want_pg, const Loss& loss) const;

  const ProcessGrid& grid_;
  const DistMatrix& x_;
  LocalSolver& solver_;
  DriverOptions options_;
};

}  // namespace nmf
