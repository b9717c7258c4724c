// The solver interface. The driver (nmf/driver/factorization.hpp) owns everything distributed: the gathers of
// factor slices, the Gram matrices, the products with X and their reduce-scatters, the error. A solver
// only supplies the local update of one factor slice from those quantities. Adding a solver is one new
// file in src/solvers/ and one line in src/solvers/registry.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nmf/matrix.hpp"

namespace nmf {

enum class FactorSide { A, S };

// Parameters every solver may read; a solver that needs more adds its fields here.
struct SolverParams {
  int k = 0;
  int inner_sweeps = 1;  // hals: coordinate-descent sweeps per update (Gillis & Glineur's acceleration)
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
};

// cross - l1, the linear term of the subproblem.
DenseMatrix shifted_cross(const UpdateInputs& inputs);

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
