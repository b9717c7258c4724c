#include "job_runner.hpp"

namespace nmf::detail {

StopRules stop_rules(const Options& o) {
  StopRules rules;
  rules.push_back(std::make_unique<MaxIterations>(o.max_iterations));
  if (o.tol > 0) rules.push_back(std::make_unique<ObjectiveChangeBelow>(o.tol));
  if (o.tol_pg > 0) rules.push_back(std::make_unique<ProjectedGradientBelow>(o.tol_pg));
  if (o.time_limit > 0) rules.push_back(std::make_unique<TimeLimit>(o.time_limit));
  return rules;
}

FactorizationResult JobRunner::run(const Job& job, bool log) {
  const std::unique_ptr<LocalSolver> solver = make_solver(o_.algo, SolverParams{job.k, job.seed, o_.solver_options});
  const std::unique_ptr<Loss> loss = job.fold >= 0
                                         ? make_held_out_loss(x_, grid_, HoldOutSpec{o_.cv_fraction, o_.seed, job.fold})
                                         : make_full_loss(x_, grid_);
  DriverOptions options;
  options.penalties = Penalties{o_.l1_a, o_.l2_a, o_.l1_s, o_.l2_s};
  options.eval_every = o_.eval_every;
  options.loss = loss.get();
  AlternatingFactorization factorization(grid_, x_, *solver, options);
  return factorization.run(random_factors(x_, grid_, job.k, job.seed), stop_rules(o_), log ? &logger_ : nullptr);
}

namespace {
// "a, b or c": the registered solvers for which `has` holds.
template <class Predicate>
std::string solvers_that(Predicate has) {
  std::vector<std::string> names;
  for (const SolverInfo& info : solver_catalog())
    if (has(*make_solver(info.name, SolverParams{1, 1, {}}))) names.push_back(info.name);
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i)
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return text;
}
}  // namespace

void check_solver(const Options& o, bool cross_validating) {
  const std::unique_ptr<LocalSolver> solver = make_solver(o.algo, SolverParams{o.k, o.seed, {}});
  const Penalties penalties{o.l1_a, o.l2_a, o.l1_s, o.l2_s};
  if (!solver->supports_penalties() && penalties.any())
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--algo " + o.algo + " does not support the penalties --l1-A, --l2-A, --l1-S, --l2-S; use " +
                             solvers_that([](const LocalSolver& s) { return s.supports_penalties(); }));
  if (cross_validating && !solver->supports_masks())
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--algo " + o.algo +
                             " cannot leave entries out of its loss, which choosing k by cross-validation needs: use " +
                             solvers_that([](const LocalSolver& s) { return s.supports_masks(); }));
  if (cross_validating && o.tol_pg > 0)
    NMF_THROW_REPLICATED(ExitCode::usage, "--tol-pg is not available with cross-validation");
}

}  // namespace nmf::detail
