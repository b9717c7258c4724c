#include "nmf/error.hpp"
#include "nmf/solvers/solver.hpp"

// One line per solver: its name (the file src/solvers/<name>.cpp defines make_<name>_solver) and the
// summary --help shows.
#define NMF_FOR_EACH_SOLVER(X)                                                                              \
  X(als,                                                                                                    \
    "alternating least squares: normal equations solved by Cholesky, negatives clamped to zero (fast, "     \
    "not a true NNLS)")                                                                                     \
  X(bpp,                                                                                                    \
    "alternating non-negative least squares, each subproblem solved exactly by block principal pivoting "   \
    "(Kim & Park 2011)")                                                                                    \
  X(hals,                                                                                                   \
    "hierarchical ALS: exact coordinate descent on one column of A or row of S at a time (Cichocki & Phan " \
    "2009); --inner repeats the sweeps")                                                                    \
  X(mu, "Lee-Seung multiplicative updates")                                                                 \
  X(kaczmarz,                                                                                               \
    "projected randomized Kaczmarz on the rows of each subproblem, norm-weighted, averaged over the "       \
    "ranks that share a factor block (--kaczmarz-*)")

namespace nmf {

#define NMF_DECLARE_FACTORY(name, summary) std::unique_ptr<LocalSolver> make_##name##_solver(const SolverParams&);
NMF_FOR_EACH_SOLVER(NMF_DECLARE_FACTORY)
#undef NMF_DECLARE_FACTORY

namespace {
struct Registration {
  SolverInfo info;
  std::unique_ptr<LocalSolver> (*make)(const SolverParams&);
};

const std::vector<Registration>& registrations() {
#define NMF_REGISTER(name, summary) Registration{{#name, summary}, &make_##name##_solver},
  static const std::vector<Registration> all{NMF_FOR_EACH_SOLVER(NMF_REGISTER)};
#undef NMF_REGISTER
  return all;
}
}  // namespace

void LocalSolver::update_block(const BlockUpdateInputs&, DenseMatrix&) {
  NMF_THROW(Error, "solver " + name() + " has no equation-based update");
}

void masked_gram(const UpdateInputs& inputs, index_t j, DenseMatrix& out) {
  const index_t k = inputs.gram.rows();
  out = inputs.gram;
  const double* correction = inputs.gram_corrections->col(j);
  for (index_t i = 0; i < k * k; ++i) out.data()[i] -= correction[i];
}

DenseMatrix shifted_cross(const UpdateInputs& inputs) {
  DenseMatrix shifted = inputs.cross;
  if (inputs.l1 != 0.0)
    for (double& v : shifted.values()) v -= inputs.l1;
  return shifted;
}

const std::vector<SolverInfo>& solver_catalog() {
  static const std::vector<SolverInfo> catalog = [] {
    std::vector<SolverInfo> infos;
    for (const auto& r : registrations()) infos.push_back(r.info);
    return infos;
  }();
  return catalog;
}

std::unique_ptr<LocalSolver> make_solver(const std::string& name, const SolverParams& params) {
  std::string known;
  for (const auto& r : registrations()) {
    if (r.info.name == name) return r.make(params);
    known += (known.empty() ? "" : ", ") + r.info.name;
  }
  NMF_THROW(UsageError, "unknown --algo '" + name + "': known solvers are " + known);
}

}  // namespace nmf
