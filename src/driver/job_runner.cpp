#include "job_runner.hpp"

#include "nmf/driver/checkpoint.hpp"
#include "nmf/io/checkpoint_files.hpp"

namespace nmf::detail {

StopRules stop_rules(const Options& o) {
  StopRules rules;
  rules.push_back(std::make_unique<MaxIterations>(o.max_iterations));
  if (o.tol > 0) rules.push_back(std::make_unique<ObjectiveChangeBelow>(o.tol));
  if (o.tol_pg > 0) rules.push_back(std::make_unique<ProjectedGradientBelow>(o.tol_pg));
  // --time-limit is the checkpoint hook's (it counts from the start of the run and keeps time for the writing).
  return rules;
}

nlohmann::ordered_json fit_identity(const Options& o, MPI_Comm comm, const DistMatrix& x, int k, std::uint64_t seed) {
  nlohmann::ordered_json solver_options = nlohmann::ordered_json::object();
  for (const SolverOption& option : find_solver(o.algo).options) {
    const auto given = o.solver_options.find(option.name);
    solver_options[option.name] = given != o.solver_options.end() ? given->second : option.default_text;
  }
  return {{"input", input_fingerprint(comm, o.input)},
          {"transpose", o.transpose},
          {"shape", {x.layout.n, x.layout.m}},
          {"k", k},
          {"algo", o.algo},
          {"solver_options", solver_options},
          {"seed", seed}};
}

nlohmann::ordered_json checkpoint_grid(const ProcessGrid& grid) {
  return {{"P", grid.size()}, {"grid", std::to_string(grid.shape().rows) + "x" + std::to_string(grid.shape().cols)}};
}

CheckpointSettings checkpoint_settings(const Options& o, bool talk) {
  CheckpointSettings settings;
  settings.dir = o.checkpoint_dir;
  settings.every = o.checkpoint_every;
  settings.every_seconds = o.checkpoint_every_seconds;
  settings.keep = o.checkpoint_keep;
  settings.resume_dir = o.resume;
  settings.time_limit = o.time_limit;
  settings.process_start = o.start_time;
  settings.talk = talk;
  return settings;
}

// The hook of one job: signals and the time limit always; checkpoints and resume for the fits on all of X
// (cross-validation folds are not checkpointed: a resumed run chooses k again).
std::unique_ptr<Checkpointer> JobRunner::hook_for(const Job& job) const {
  CheckpointSettings settings = checkpoint_settings(o_, logger_talks_);
  if (job.fold >= 0) settings.dir = settings.resume_dir = "";
  nlohmann::ordered_json identity, grid;
  if (!settings.dir.empty() || !settings.resume_dir.empty()) {
    // The stop rules may differ (a resumed run may go further); the penalties and the job may not.
    identity = fit_identity(o_, grid_.comm(), x_, job.k, job.seed);
    identity["penalties"] = {o_.l1_a, o_.l2_a, o_.l1_s, o_.l2_s};
    identity["restart"] = job.restart;
    grid = checkpoint_grid(grid_);
  }
  return std::make_unique<Checkpointer>(grid_.comm(), settings, "restart" + std::to_string(job.restart), identity,
                                        grid);
}

FactorizationResult JobRunner::run(const Job& job, bool log) {
  if (stopped_by_signal())  // agreed on this subgroup by an earlier job's loop
    NMF_THROW_REPLICATED(ExitCode::interrupted, "not run: a signal stopped the run before it");
  const std::unique_ptr<LocalSolver> solver = make_solver(o_.algo, SolverParams{job.k, job.seed, o_.solver_options});
  const std::unique_ptr<Loss> loss = job.fold >= 0
                                         ? make_held_out_loss(x_, grid_, HoldOutSpec{o_.cv_fraction, o_.seed, job.fold})
                                         : make_full_loss(x_, grid_);
  DriverOptions options;
  options.penalties = Penalties{o_.l1_a, o_.l2_a, o_.l1_s, o_.l2_s};
  options.eval_every = o_.eval_every;
  options.loss = loss.get();
  AlternatingFactorization factorization(grid_, x_, *solver, options);
  FactorizationResult made;
  const std::unique_ptr<Checkpointer> hook = hook_for(job);
  // A resumed job's factors come from its checkpoint: no initialization (an SVD with --init nndsvd*) to throw away.
  Factors initial = hook->will_resume() ? resumed_factors_shape(job, made) : initial_factors(job, made);
  FactorizationResult result =
      factorization.run(std::move(initial), stop_rules(o_), log ? &logger_ : nullptr, hook.get());
  result.resumed_from = hook->resumed_from();
  result.last_checkpoint = hook->last_checkpoint();
  result.checkpoints_written = hook->checkpoints_written();
  result.checkpoint_seconds = hook->checkpoint_seconds();
  result.init = made.init;
  result.init_seconds = made.init_seconds;
  result.svd_seconds = made.svd_seconds;
  return result;
}

Factors JobRunner::resumed_factors_shape(const Job& job, FactorizationResult& result) const {
  const Layout& layout = x_.layout;
  Factors f;
  f.a_t = DenseMatrix(job.k, layout.a_slices.size(layout.a_slice_of(grid_.row(), grid_.col())));
  f.s = DenseMatrix(job.k, layout.s_slices.size(layout.s_slice_of(grid_.row(), grid_.col())));
  result.init = "resumed from a checkpoint";
  return f;
}

// Cross-validation folds start from random factors: an SVD of X would see the entries the fold holds out. The
// first restart starts from --init itself; later restarts of an SVD-based --init start from the same SVD with
// nndsvdar's random fill drawn from their own seed, so that they are different starts.
Factors JobRunner::initial_factors(const Job& job, FactorizationResult& result) {
  const double start = MPI_Wtime();
  InitMethod method = parse_init_method(o_.init);
  if (job.fold >= 0) method = InitMethod::random;
  if (!uses_svd(method)) {
    Factors f = random_factors(x_, grid_, job.k, job.seed);
    result.init = "random";
    result.init_seconds = MPI_Wtime() - start;
    return f;
  }
  if (svd_cache_.k != job.k) {
    svd_cache_.k = 0;
    svd_cache_.svd = randomized_svd(grid_, x_, job.k, RandomizedSvdOptions{o_.svd_oversample, o_.svd_power, o_.seed});
    svd_cache_.k = job.k;
    svd_cache_.seconds = MPI_Wtime() - start;
  }
  const bool perturbed = job.restart > 0 && method != InitMethod::nndsvdar;
  if (perturbed) method = InitMethod::nndsvdar;
  Factors f = nndsvd_factors(x_, grid_, svd_cache_.svd, method, job.seed);
  result.init = std::string(init_method_name(method)) + (perturbed ? " (perturbed restart of " + o_.init + ")" : "");
  result.svd_seconds = svd_cache_.seconds;
  // rank 0's clock, as every time in the summary
  result.init_seconds = MPI_Wtime() - start;
  NMF_MPI_CHECK(MPI_Bcast(&result.init_seconds, 1, MPI_DOUBLE, 0, grid_.comm()));
  NMF_MPI_CHECK(MPI_Bcast(&result.svd_seconds, 1, MPI_DOUBLE, 0, grid_.comm()));
  return f;
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
  const std::unique_ptr<LocalSolver> solver = make_solver(o.algo, SolverParams{o.k, o.seed, o.solver_options});
  const Penalties penalties{o.l1_a, o.l2_a, o.l1_s, o.l2_s};
  const std::string algo = o.algo + (solver->solves_by_qr() ? " --ls qr" : "");  // as the user chose it
  if (!solver->supports_penalties() && penalties.any())
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--algo " + algo + " does not support the penalties --l1-A, --l2-A, --l1-S, --l2-S; use " +
                             solvers_that([](const LocalSolver& s) { return s.supports_penalties(); }));
  if (cross_validating && !solver->supports_masks())
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--algo " + algo +
                             " cannot leave entries out of its loss, which choosing k by cross-validation needs: use " +
                             solvers_that([](const LocalSolver& s) { return s.supports_masks(); }));
  if (cross_validating && o.tol_pg > 0)
    NMF_THROW_REPLICATED(ExitCode::usage, "--tol-pg is not available with cross-validation");
}

}  // namespace nmf::detail
