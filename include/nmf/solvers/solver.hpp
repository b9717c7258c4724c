// The solver interface. The driver (nmf/driver/factorization.hpp) owns everything distributed: the gathers of
// factor slices, the Gram matrices, the products with X and their reduce-scatters, the error. A solver
// only supplies the local update of one factor slice from those quantities. Adding a solver is one new
// file in src/solvers/ and one line in src/solvers/registry.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nmf/local_block.hpp"
#include "nmf/matrix.hpp"

namespace nmf {

enum class FactorSide { A, S };

// Parameters every solver may read; a solver that needs more adds its fields here.
struct SolverParams {
  int k = 0;
  int inner_sweeps = 1;             // hals: coordinate-descent sweeps per update (Gillis & Glineur's acceleration)
  std::uint64_t seed = 1;           // kaczmarz: the random streams are keyed by (seed, rank, iteration)
  std::int64_t kaczmarz_steps = 0;  // kaczmarz: equations per subproblem and rank; 0 picks the default
  int kaczmarz_block = 1;           // kaczmarz: equations per block step
  std::string kaczmarz_sampling = "norm";  // kaczmarz: "norm" (probability ~ ||row||^2) or "uniform"
  double kaczmarz_relaxation = 0.1;        // kaczmarz: step length relative to the full projection
};

// What the driver hands a solver for one update. For the S update: gram = A^T A + l2_S I, cross = A^T X
// for this rank's columns of S, l1 = l1_S. For the A update: gram = S S^T + l2_A I, cross = S X^T for this
// rank's rows of A (the factor slice, k x count, holds A^T's columns), l1 = l1_A. In both cases the update
// minimises, for every column f of the slice independently,
//   1/2 f^T gram f - (cross - l1)^T f      subject to f >= 0,
// which is the penalized objective of nmf_mpi restricted to one factor (see driver/factorization.hpp).
struct UpdateInputs {
  FactorSide side;
  const DenseMatrix& gram;   // k x k, replicated on every rank, L2 penalty included
  const DenseMatrix& cross;  // k x count, this rank's columns
  double l1;                 // element-wise L1 penalty of this factor
  int iteration;             // 1-based outer iteration
  // The masked (held-out) path: when set, column j's subproblem has its own Gram matrix,
  // gram - reshape(gram_corrections(:, j)) (k*k x count, column-major k x k per column): the contributions
  // of the entries of X that the loss leaves out. `cross` already excludes them.
  const DenseMatrix* gram_corrections = nullptr;
};

// The Gram matrix of column j of a masked update: inputs.gram minus the column's correction.
void masked_gram(const UpdateInputs& inputs, index_t j, DenseMatrix& out);

// cross - l1, the linear term of the subproblem.
DenseMatrix shifted_cross(const UpdateInputs& inputs);

// What the driver hands a solver that works on the equations themselves rather than on the Gram matrices
// (Kaczmarz): this rank's block X_ij and the other factor's gathered block. For the S update the
// equations are A's rows (other_block = A's row block, k x n_i) with right-hand sides X_ij's rows; for the
// A update they are S's columns (other_block = S's column block, k x m_j) with X_ij's columns. The solver
// updates its own factor's gathered block in place; the driver then averages that block over the ranks
// that share it (randomized Kaczmarz with averaging) and keeps this rank's slice.
struct BlockUpdateInputs {
  FactorSide side;
  const LocalBlock& x;             // X_ij
  const DenseMatrix& other_block;  // A's row block (S update) or S's column block (A update)
  int iteration;                   // 1-based outer iteration
  int rank;                        // grid rank: each rank samples its own stream
};

class LocalSolver {
 public:
  virtual ~LocalSolver() = default;
  virtual std::string name() const = 0;
  // Replaces `factor` (k x count: this rank's slice of S, or of A^T) by its update. Local: no MPI.
  virtual void update(const UpdateInputs& inputs, DenseMatrix& factor) = 0;
  // Diagonal ridges added to singular or ill-conditioned Gram matrices so far (reported in the log).
  virtual int ridges_added() const { return 0; }
  // Whether the driver should rescale A's columns and S's rows to equal norms after each iteration
  // (A S unchanged); solvers whose steps divide by a factor's column norms want it.
  virtual bool wants_balanced_scaling() const { return false; }
  // Gram-based solvers (all but Kaczmarz) get UpdateInputs through update(); the others get
  // BlockUpdateInputs through update_block(), and the driver skips the products they do not need.
  virtual bool uses_gram() const { return true; }
  virtual void update_block(const BlockUpdateInputs& inputs, DenseMatrix& block);
  // Whether the solver minimises the penalized objective (--l1-A and the others).
  virtual bool supports_penalties() const { return true; }
  // Whether the solver handles UpdateInputs::gram_corrections (losses that leave entries of X out, as
  // cross-validation does).
  virtual bool supports_masks() const { return false; }
};

struct SolverInfo {
  std::string name;
  std::string summary;  // one line for --help
};

// The registered solvers, in registration order.
const std::vector<SolverInfo>& solver_catalog();

// Throws UsageError naming the known solvers if `name` is not one of them.
std::unique_ptr<LocalSolver> make_solver(const std::string& name, const SolverParams& params);

}  // namespace nmf
