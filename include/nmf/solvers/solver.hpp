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

// Parameters every solver may read; later solvers add their own fields here.
struct SolverParams {
  int k = 0;
};

// What the driver hands a solver for one update. For the S update: gram = A^T A, cross = A^T X for this
// rank's columns of S. For the A update: gram = S S^T, cross = S X^T for this rank's rows of A (so the
// factor slice, k x count, is A^T's columns). In both cases the update minimises, column by column,
//   ||x - F^T f||^2 = f^T gram f - 2 cross^T f + const   subject to f >= 0.
struct UpdateInputs {
  FactorSide side;
  const DenseMatrix& gram;   // k x k, replicated on every rank
  const DenseMatrix& cross;  // k x count, this rank's columns
  int iteration;             // 1-based outer iteration
};

class LocalSolver {
 public:
  virtual ~LocalSolver() = default;
  virtual std::string name() const = 0;
  // Replaces `factor` (k x count: this rank's slice of S, or of A^T) by its update. Local: no MPI.
  virtual void update(const UpdateInputs& inputs, DenseMatrix& factor) = 0;
  // Diagonal ridges added to singular Gram matrices so far (reported once in the log).
  virtual int ridges_added() const { return 0; }
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
