// The distributed alternating-update driver, in the style of MPI-FAUN (Kannan, Ballard and Park): the
// driver owns every distributed product and collective; the LocalSolver supplies the local update.
//
// It minimises the penalized objective
//   f(A, S) = 1/2 ||X - A S||_F^2 + l1_A sum(A) + l2_A/2 ||A||_F^2 + l1_S sum(S) + l2_S/2 ||S||_F^2
// over A >= 0, S >= 0 (sum(A) is the element-wise L1 norm, as A >= 0).
//
// One iteration, on rank (i, j) of a pr x pc grid:
//   S update:  (A^T X) partial = At_rowblock * X_ij              local, dense BLAS or sparse gather
//              A^T X slice     = reduce-scatter over grid column  each rank gets only its columns of S
//              S slice         = solver(A^T A + l2_S I, A^T X slice, l1_S)
//              S_colblock      = all-gather over grid column;  S S^T = all-reduce of local SYRK
//   A update:  the same with S X^T over the grid row, giving the rank's rows of A
//   objective: ||X||^2 - 2 <S X^T, A^T> + <A^T A, S S^T> plus the penalties, from quantities the next
//              iteration needs anyway (recomputed directly from the blocks when the relative error is so
//              small that the identity loses its digits to cancellation)
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/driver/holdout.hpp"
#include "nmf/factors.hpp"
#include "nmf/driver/monitor.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

// Reproducible random factors: A(i, c) and S(c, j) come from a counter-based generator keyed by
// (seed, global index), uniform on [0, scale) with scale = 2 sqrt(mean(X) / k) so that A S has the mean
// of X. The same seed gives the same factors on any number of ranks and any grid.
Factors random_factors(const DistMatrix& x, const ProcessGrid& grid, int k, std::uint64_t seed);

struct Penalties {
  double l1_a = 0, l2_a = 0, l1_s = 0, l2_s = 0;
  bool any() const { return l1_a != 0 || l2_a != 0 || l1_s != 0 || l2_s != 0; }
};

struct DriverOptions {
  Penalties penalties;
  int eval_every = 1;  // evaluate the objective every N iterations (always at the first and the last)
  // The Gram identity subtracts numbers of the size of ||X||^2, each accurate to about 1e-14 relative, so
  // an error e keeps about 1e-14 / e^2 of relative accuracy in e^2: at e = 1e-3 that is 1e-8, enough for
  // runs on different numbers of ranks to agree to 8 digits; below it the error is recomputed directly
  // from the local blocks (one dense block product, n m k / P flops per rank). That is done only where it
  // is affordable: dense storage, or a sparse X with at least 1/32 of its entries stored.
  double direct_error_below = 1e-3;
  // Cross-validation: the entries the training loss leaves out (the masked update path; null: none). With
  // it, relative_error and the objective are the training loss's, and heldout_error is reported.
  const HeldOutEntries* held_out = nullptr;
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
  double heldout_error = std::numeric_limits<double>::quiet_NaN();  // with DriverOptions::held_out
  std::vector<IterationRecord> history;  // evaluated iterations, iteration 0 (initial factors) first
  double seconds = 0;                    // iterations only
  double comm_bytes_per_iteration = 0;   // summed over ranks
  PhaseSeconds phases;
  int ridges = 0;
  int direct_error_evaluations = 0;  // evaluations that fell back to the direct residual
};

class AlternatingFactorization {
 public:
  // x, grid and solver must outlive this object. Collective calls happen in run() only.
  AlternatingFactorization(const ProcessGrid& grid, const DistMatrix& x, LocalSolver& solver,
                           DriverOptions options = {});

  // Collective over grid.comm(). Iterates until a stop rule fires. The observer (may be null) sees every
  // evaluated iteration on every rank; loggers print on one rank.
  FactorizationResult run(Factors initial, const StopRules& rules, IterationObserver* observer);

 private:
  const ProcessGrid& grid_;
  const DistMatrix& x_;
  LocalSolver& solver_;
  DriverOptions options_;
};

}  // namespace nmf
