#include "nmf/app.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>

#include "nmf/driver/factorization.hpp"
#include "nmf/driver/jobs.hpp"
#include "nmf/driver/rank_selection.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/output.hpp"
#include "nmf/io/output_set.hpp"
#include "nmf/options.hpp"
#include "report.hpp"

namespace nmf {

namespace {

constexpr index_t kMaxPrintedEntries = 100 * 100;

ReadOptions read_options(const Options& o) {
  ReadOptions r;
  r.path = o.input;
  r.format = parse_input_format(o.format);
  r.transpose = o.transpose;
  r.storage = parse_storage_choice(o.storage);
  r.chunk_bytes = o.read_chunk_mb << 20;
  r.factor_rank = *std::max_element(o.ranks.begin(), o.ranks.end());
  return r;
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string text;
  for (int k : ranks) text += (text.empty() ? "" : ",") + std::to_string(k);
  return text;
}

void print_header(const Options& o, int world_ranks, int groups, const ProcessGrid& grid,
                  const std::string& description, const DistMatrix& x, double read_seconds) {
  const MatrixStats& st = x.stats;
  if (groups == 1)
    std::printf("nmf_mpi %s: %d rank%s as a %s grid\n", version_string().c_str(), grid.size(),
                grid.size() == 1 ? "" : "s", grid.shape().str().c_str());
  else
    std::printf("nmf_mpi %s: %d ranks in %d subgroups of %d, each a %s grid with its own copy of X\n",
                version_string().c_str(), world_ranks, groups, grid.size(), grid.shape().str().c_str());
  std::printf("input: %s%s\n", description.c_str(), o.transpose ? ", transposed" : "");
  std::printf("X: %lld x %lld, %lld nonzeros, %s storage, read in %.3f s; nonzeros per rank min %lld max %lld\n",
              static_cast<long long>(x.layout.n), static_cast<long long>(x.layout.m),
              static_cast<long long>(st.nonzeros), storage_name(x.block.storage), read_seconds,
              static_cast<long long>(st.min_block_nonzeros), static_cast<long long>(st.max_block_nonzeros));
  std::printf("k = %s, algo = %s, seed = %llu, at most %d iterations, tol = %g", rank_list(o.ranks).c_str(),
              o.algo.c_str(), static_cast<unsigned long long>(o.seed), o.max_iterations, o.tol);
  if (o.restarts > 1) std::printf(", %d restarts", o.restarts);
  if (o.tol_pg > 0) std::printf(", tol-pg = %g", o.tol_pg);
  if (o.time_limit > 0) std::printf(", time limit %g s", o.time_limit);
  if (o.l1_a > 0 || o.l2_a > 0 || o.l1_s > 0 || o.l2_s > 0)
    std::printf(", penalties l1_A %g l2_A %g l1_S %g l2_S %g", o.l1_a, o.l2_a, o.l1_s, o.l2_s);
  std::printf("\n");
  std::fflush(stdout);
}

// Everything one subgroup needs to run a job on its copy of X.
class JobRunner {
 public:
  JobRunner(const Options& o, const ProcessGrid& grid, const DistMatrix& x, bool talk)
      : o_(o), grid_(grid), x_(x), logger_(talk, o.log_every) {}

  // Collective over the subgroup. `fold` < 0 fits all of X; otherwise the fold's entries are held out.
  // `log` shows the iterations (for a run of a single job).
  FactorizationResult run(const Job& job, bool log) {
    SolverParams params;
    params.k = job.k;
    params.inner_sweeps = o_.inner;
    params.seed = job.seed;
    params.kaczmarz_steps = o_.kaczmarz_steps;
    params.kaczmarz_block = o_.kaczmarz_block;
    params.kaczmarz_sampling = o_.kaczmarz_sampling;
    params.kaczmarz_relaxation = o_.kaczmarz_relaxation;
    const std::unique_ptr<LocalSolver> solver = make_solver(o_.algo, params);
    StopRules rules;
    rules.push_back(std::make_unique<MaxIterations>(o_.max_iterations));
    if (o_.tol > 0) rules.push_back(std::make_unique<ObjectiveChangeBelow>(o_.tol));
    if (o_.tol_pg > 0) rules.push_back(std::make_unique<ProjectedGradientBelow>(o_.tol_pg));
    if (o_.time_limit > 0) rules.push_back(std::make_unique<TimeLimit>(o_.time_limit));
    DriverOptions options;
    options.penalties = Penalties{o_.l1_a, o_.l2_a, o_.l1_s, o_.l2_s};
    options.eval_every = o_.eval_every;
    std::unique_ptr<HeldOutEntries> held_out;
    if (job.fold >= 0) {
      held_out = std::make_unique<HeldOutEntries>(x_, grid_, HoldOutSpec{o_.cv_fraction, o_.seed, job.fold});
      options.held_out = held_out.get();
    }
    AlternatingFactorization factorization(grid_, x_, *solver, options);
    return factorization.run(random_factors(x_, grid_, job.k, job.seed), rules, log ? &logger_ : nullptr);
  }

 private:
  const Options& o_;
  const ProcessGrid& grid_;
  const DistMatrix& x_;
  detail::ConsoleLogger logger_;
};

// Checks, on data every rank has, what the solver needs before any job starts.
void check_solver(const Options& o, bool cross_validating) {
  const std::unique_ptr<LocalSolver> solver = make_solver(o.algo, SolverParams{o.k});
  if (!solver->supports_penalties() && (o.l1_a > 0 || o.l2_a > 0 || o.l1_s > 0 || o.l2_s > 0))
    NMF_THROW_REPLICATED(ExitCode::usage, "--algo " + o.algo +
                                              " does not support the penalties --l1-A, --l2-A, "
                                              "--l1-S, --l2-S; use bpp, hals, mu or als");
  if (cross_validating && !solver->supports_masks())
    NMF_THROW_REPLICATED(ExitCode::usage, "--algo " + o.algo +
                                              " cannot leave entries out of its loss, which choosing k by "
                                              "cross-validation needs: use hals or als");
  if (cross_validating && o.tol_pg > 0)
    NMF_THROW_REPLICATED(ExitCode::usage, "--tol-pg is not available with cross-validation");
}

// The cross-validation sweep: every (k, fold, restart) on the subgroups, then one score per k.
std::vector<RankScore> sweep_ranks(const Options& o, MPI_Comm world, const SubGroups& groups, JobRunner& runner,
                                   int folds, bool talk) {
  std::vector<Job> jobs;
  for (int k : o.ranks)
    for (int fold = 0; fold < folds; ++fold)
      for (int r = 0; r < o.restarts; ++r)
        jobs.push_back(Job{static_cast<int>(jobs.size()), k, fold, r, restart_seed(o.seed, r)});
  if (talk) {
    std::printf("choosing k by cross-validation: %zu ranks x %d folds x %d restarts = %zu fits on %d subgroup%s\n",
                o.ranks.size(), folds, o.restarts, jobs.size(), groups.count, groups.count == 1 ? "" : "s");
    std::fflush(stdout);
  }
  const std::vector<JobOutcome> outcomes =
      run_jobs(world, groups, jobs, [&](const Job& job) { return runner.run(job, false); });

  std::vector<RankScore> scores;
  for (int k : o.ranks) {
    std::vector<double> train, heldout;
    for (int fold = 0; fold < folds; ++fold) {
      const JobOutcome* best = nullptr;  // the fold's best restart, by training objective
      for (const Job& job : jobs) {
        const JobOutcome& out = outcomes[static_cast<std::size_t>(job.index)];
        if (job.k == k && job.fold == fold && out.ok && (!best || out.objective < best->objective)) best = &out;
      }
      if (!best) continue;
      train.push_back(best->relative_error);
      heldout.push_back(best->heldout_error);
    }
    scores.push_back(score_rank(k, train, heldout));
  }
  for (const JobOutcome& out : outcomes)
    if (!out.ok && talk)
      std::fprintf(stderr, "nmf_mpi: warning: cross-validation fit %d failed and was skipped: %s\n", out.index,
                   out.error.c_str());
  return scores;
}

std::string rank_selection_csv(const std::vector<RankScore>& scores, int chosen) {
  std::string csv = "k,folds,train_error,train_std,heldout_error,heldout_std,chosen\n";
  char line[256];
  for (const RankScore& s : scores) {
    std::snprintf(line, sizeof line, "%d,%d,%.17g,%.17g,%.17g,%.17g,%d\n", s.k, s.folds, s.train_error, s.train_std,
                  s.heldout_error, s.heldout_std, s.k == chosen ? 1 : 0);
    csv += line;
  }
  return csv;
}

nlohmann::ordered_json rank_selection_json(const std::vector<RankScore>& scores, int chosen, const Options& o,
                                           int folds) {
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  for (const RankScore& s : scores)
    entries.push_back({{"k", s.k},
                       {"folds", s.folds},
                       {"train_error", s.train_error},
                       {"train_std", s.train_std},
                       {"heldout_error", s.heldout_error},
                       {"heldout_std", s.heldout_std}});
  return {{"chosen", chosen},
          {"rule", o.rank_select},
          {"cv_folds", folds},
          {"cv_fraction", o.cv_fraction},
          {"entries", entries}};
}

int run(const CommandLine& cli, const Comm& comm) {
  Options o = cli.options;
  const int rank = comm.rank();
  const bool talk = rank == 0 && !o.quiet;
  const double start = MPI_Wtime();

  OutputFormat output_format = parse_output_format(o.output_format);
  OutputPaths paths;
  std::optional<OutputSet> outputs;  // holds the prefix's lock until the run ends
  if (!o.output.empty()) {
    outputs.emplace(comm.get(), o.output, output_format);
    paths = outputs->paths();
  }
  const bool cross_validating = o.ranks.size() > 1 || o.cv_folds > 0;
  const int folds = o.cv_folds > 0 ? o.cv_folds : 3;
  check_solver(o, cross_validating);

  // Each subgroup reads X itself, onto its own grid.
  const SubGroups groups = split_into_groups(comm.get(), o.groups);
  const MPI_Comm group = groups.group.get();
  std::unique_ptr<InputSource> source =
      o.input.empty() ? dense_in_memory(builtin_example_matrix(),
                                        "built-in example (the origin notebook's 12 x 10 matrix)", o.transpose)
                      : open_input(group, read_options(o));
  const InputShape shape = source->shape();
  int group_size = 0;
  NMF_MPI_CHECK(MPI_Comm_size(group, &group_size));
  const GridShape grid_shape = collectively(comm.get(), [&] {
    for (int k : o.ranks) validate_rank_for_shape(k, shape.rows, shape.cols);
    if (o.grid == "auto") return choose_grid_shape(group_size, shape.rows, shape.cols);
    const GridShape requested = parse_grid_shape(o.grid);
    validate_grid_shape(requested, group_size, shape.rows, shape.cols);
    return requested;
  });
  if (o.print && shape.rows * shape.cols > kMaxPrintedEntries)
    NMF_THROW_REPLICATED(ExitCode::usage, "--print is for matrices of at most 100 x 100 entries");
  const ProcessGrid grid(group, grid_shape);

  const DistMatrix x = source->distribute(grid);
  const double read_seconds = MPI_Wtime() - start;
  if (x.stats.frobenius_sq == 0.0)
    NMF_THROW_REPLICATED(ExitCode::bad_input,
                         source->description() + ": every entry is zero; there is nothing to factor");
  if (talk) {
    print_header(o, comm.size(), groups.count, grid, source->description(), x, read_seconds);
    if (x.stats.duplicates > 0)
      std::fprintf(stderr, "nmf_mpi: warning: %s: %lld duplicate entries were summed\n", o.input.c_str(),
                   static_cast<long long>(x.stats.duplicates));
  }
  JobRunner runner(o, grid, x, talk);

  nlohmann::ordered_json extra;
  std::string rank_csv;
  if (cross_validating) {
    const std::vector<RankScore> scores = sweep_ranks(o, comm.get(), groups, runner, folds, talk);
    o.k = choose_rank(scores, o.rank_select);
    if (o.k == 0) NMF_THROW_REPLICATED(ExitCode::failure, "every cross-validation fit failed; no k can be chosen");
    extra["rank_selection"] = rank_selection_json(scores, o.k, o, folds);
    rank_csv = rank_selection_csv(scores, o.k);
    if (talk) {
      std::printf("%6s %8s %14s %12s %14s %12s\n", "k", "folds", "train error", "(std)", "held-out error", "(std)");
      for (const RankScore& s : scores)
        std::printf("%6d %8d %14.6g %12.3g %14.6g %12.3g%s\n", s.k, s.folds, s.train_error, s.train_std,
                    s.heldout_error, s.heldout_std, s.k == o.k ? "  <- chosen" : "");
      std::printf("chosen k = %d (%s rule); fitting it on all of X\n", o.k,
                  o.rank_select == "se" ? "one-standard-error" : "minimum");
      std::fflush(stdout);
    }
  }

  // The final fit: --restarts starts of the chosen k on all of X; each subgroup keeps its best factors.
  std::vector<Job> jobs;
  for (int r = 0; r < o.restarts; ++r) jobs.push_back(Job{r, o.k, -1, r, restart_seed(o.seed, r)});
  const bool single = jobs.size() == 1;
  FactorizationResult kept;
  int kept_index = -1;
  const std::vector<JobOutcome> outcomes = run_jobs(comm.get(), groups, jobs, [&](const Job& job) {
    FactorizationResult result = runner.run(job, single);
    if (kept_index < 0 || result.objective < kept.objective) {
      kept = result;
      kept_index = job.index;
    }
    return result;
  });
  std::vector<int> all(jobs.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  const int best = best_job(comm.get(), groups, outcomes, all);
  if (best < 0) NMF_THROW_REPLICATED(ExitCode::failure, "every restart failed; the first: " + outcomes.front().error);
  const bool winner = outcomes[static_cast<std::size_t>(best)].group == groups.index;

  if (!single) {
    nlohmann::ordered_json table = nlohmann::ordered_json::array();
    for (const JobOutcome& out : outcomes) {
      nlohmann::ordered_json entry = {{"index", out.index},
                                      {"seed", jobs[static_cast<std::size_t>(out.index)].seed},
                                      {"group", out.group},
                                      {"relative_error", out.ok ? nlohmann::ordered_json(out.relative_error) : nullptr},
                                      {"objective", out.ok ? nlohmann::ordered_json(out.objective) : nullptr},
                                      {"iterations", out.iterations},
                                      {"seconds", out.seconds},
                                      {"stop_reason", out.stop_reason}};
      if (!out.ok) entry["error"] = out.error;
      table.push_back(entry);
    }
    extra["restarts"] = table;
    extra["best_restart"] = best;
    if (talk) {
      std::printf("%8s %22s %8s %22s %10s %9s  %s\n", "restart", "seed", "group", "relative error", "iterations",
                  "seconds", "stop");
      for (const JobOutcome& out : outcomes) {
        std::printf("%8d %22llu %8d %22.15g %10d %9.3f  %s%s\n", out.index,
                    static_cast<unsigned long long>(jobs[static_cast<std::size_t>(out.index)].seed), out.group,
                    out.relative_error, out.iterations, out.seconds, out.ok ? out.stop_reason.c_str() : "FAILED",
                    out.index == best ? "  <- best" : "");
        if (!out.ok)
          std::fprintf(stderr, "nmf_mpi: warning: restart %d failed and was skipped: %s\n", out.index,
                       out.error.c_str());
      }
      std::fflush(stdout);
    }
  }
  const FactorizationResult& result = kept;  // on the winning subgroup: the best restart
  const bool winner_talks = winner && grid.rank() == 0 && !o.quiet;
  if (winner_talks) {
    std::printf("stopped after %d iterations (%s): relative error %.6g, %.3f s (%.3g s per iteration)\n",
                result.iterations, result.stop_reason.c_str(), result.relative_error, result.seconds,
                result.iterations > 0 ? result.seconds / result.iterations : 0.0);
    if (result.ridges > 0)
      std::printf("note: a singular or ill-conditioned Gram matrix needed a small diagonal ridge (%d updates)\n",
                  result.ridges);
  }
  if (winner && o.print && !o.quiet) detail::print_small_problem(grid, x, result.factors);
  if (winner_talks && o.print) std::printf("relative error ||X - A S||_F / ||X||_F = %.6g\n", result.relative_error);
  std::fflush(stdout);

  if (!o.output.empty()) {
    // The winning subgroup writes the factors and the summary; the whole job agrees on how it went.
    std::optional<LocalFailure> failure;
    try {
      if (winner) {
        outputs->write_factors(grid, x.layout, result.factors);
        if (!rank_csv.empty())
          outputs->add_text_file(grid.comm(), "rank_selection", o.output + "_rank_selection.csv", rank_csv);
        extra["files"] = nlohmann::ordered_json::parse(outputs->files_json());
        detail::RunFacts facts{
            o,       source->description(), grid,         x,    result, read_seconds, MPI_Wtime() - start, paths.a,
            paths.s, comm.size(),           groups.count, extra};
        outputs->commit(grid.comm(), detail::build_summary(facts).dump(1) + "\n");
      }
    } catch (const CollectiveError&) {
      failure = describe_current_exception();
    }
    agree_on_failure(comm.get(), failure);
    if (winner_talks)
      std::printf("wrote %s, %s and %s%s\n", paths.a.c_str(), paths.s.c_str(), paths.summary.c_str(),
                  rank_csv.empty() ? "" : (" and " + o.output + "_rank_selection.csv").c_str());
  }
  return 0;
}

}  // namespace

int run_nmf_mpi(int argc, const char* const* argv, MPI_Comm world) {
  Comm comm = Comm::duplicate(world);
  const int rank = comm.rank();
  try {
    const CommandLine cli = collectively(comm.get(), [&] {
      CommandLine parsed = parse_command_line(argc, argv);
      if (parsed.action == CommandLine::Action::run) validate_options(parsed.options);
      return parsed;
    });
    if (cli.action == CommandLine::Action::help) {
      if (rank == 0) std::cout << cli.help_text << std::flush;
      return 0;
    }
    if (cli.action == CommandLine::Action::version) {
      if (rank == 0) std::cout << "nmf_mpi " << version_string() << std::endl;
      return 0;
    }
    return run(cli, comm);
  } catch (const CollectiveError& e) {
    // Every rank is here with the same message; one prints it.
    if (rank == 0) std::fprintf(stderr, "nmf_mpi: error: %s\n", e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    // Not agreed: other ranks may be waiting in a collective, so the only way out without a hang is
    // to abort the job.
    std::fprintf(stderr, "nmf_mpi: rank %d: fatal: %s\n", rank, e.what());
    std::fflush(stderr);
    MPI_Abort(world, static_cast<int>(ExitCode::failure));
    return static_cast<int>(ExitCode::failure);
  }
}

}  // namespace nmf
