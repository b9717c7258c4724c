#include "ratings_selection.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "nmf/driver/checkpoint.hpp"
#include "nmf/kernels/random.hpp"

namespace nmf {

int ratings_fold_of(std::uint64_t seed, std::uint64_t key, int folds) {
  const double u = uniform01(seed, RandomStream::ratings_fold, key);
  return std::min(folds - 1, static_cast<int>(u * folds));
}

RatingsSplit ratings_fold_split(const ObservedBlock& train, const Layout& layout, const ProcessGrid& grid, int folds,
                                int fold, std::uint64_t seed) {
  return split_ratings_by(train.csr, layout, grid,
                          [&](std::uint64_t key) { return ratings_fold_of(seed, key, folds) == fold; });
}

}  // namespace nmf

namespace nmf::detail {

void check_ratings_selection_options(const Options& o) {
  if (!cross_validating(o)) return;
  if (o.cv_folds == 1)
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--cv-folds 1: the recommender mode's folds partition the training ratings, so it needs at "
                         "least 2 (each fit leaves one fold out)");
  if (o.cv_fraction != Options{}.cv_fraction)
    NMF_THROW_REPLICATED(ExitCode::usage,
                         "--cv-fraction belongs to plain NMF's cross-validation; in the recommender mode each of the "
                         "--cv-folds F folds holds out 1/F of the training ratings");
}

namespace {

// What run_jobs keeps of a fit (every number of JobOutcome): heldout_error carries the test (validation) RMSE;
// relative_error the training RMSE for a cross-validation fit (the table's), the relative error for a restart.
FactorizationResult outcome_of(const RatingsResult& r, bool train_rmse) {
  FactorizationResult out;
  out.relative_error = train_rmse ? r.rmse_train : r.fit.relative_error;
  out.objective = r.fit.objective;
  out.heldout_error = r.rmse_test;
  out.seconds = r.fit.seconds;
  out.iterations = r.fit.iterations;
  out.stop_reason = r.fit.stop_reason;
  return out;
}

// Collective over the subgroup: a job after a signal stopped an earlier one on this subgroup is not run.
void refuse_after_signal() {
  if (stopped_by_signal()) NMF_THROW_REPLICATED(ExitCode::interrupted, "not run: a signal stopped the run before it");
}

// Collective over `world`: the run ends if a signal stopped a fit on any subgroup (each agreed on its own).
void end_if_signalled(MPI_Comm world) {
  int stopped = stopped_by_signal() ? 1 : 0;
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &stopped, 1, MPI_INT, MPI_MAX, world));
  if (stopped != 0)
    NMF_THROW_REPLICATED(ExitCode::interrupted,
                         "a signal (SIGTERM or SIGUSR1) ended the iterations while k was being chosen by "
                         "cross-validation; nothing was written");
}

RankScore ratings_score_of(int k, const std::vector<Job>& jobs, const std::vector<JobOutcome>& outcomes) {
  std::vector<double> train, validation;
  for (const Job& job : jobs) {
    const JobOutcome& out = outcomes[static_cast<std::size_t>(job.index)];
    if (job.k != k || !out.ok) continue;
    train.push_back(out.relative_error);
    validation.push_back(out.heldout_error);
  }
  return score_rank(k, train, validation);
}

void print_ratings_choice(const RankChoice& choice) {
  std::printf("%6s %8s %12s %10s %16s %10s\n", "k", "folds", "train RMSE", "(std)", "validation RMSE", "(std)");
  for (const RankScore& s : choice.scores)
    std::printf("%6d %8d %12.6f %10.3g %16.6f %10.3g%s\n", s.k, s.folds, s.train_error, s.train_std, s.heldout_error,
                s.heldout_std, s.k == choice.k ? "  <- chosen" : "");
  std::printf("chosen k = %d (lowest mean validation RMSE); fitting it on all training ratings\n", choice.k);
  std::fflush(stdout);
}

}  // namespace

void print_ratings_restarts(const RatingsFinalFit& fit) {
  const FinalFit& runs = fit.runs;
  std::printf("%8s %18s %6s %22s %12s %10s %9s  %s\n", "restart", "seed", "group", "training objective", "test RMSE",
              "iterations", "seconds", "stop");
  for (const JobOutcome& out : runs.outcomes) {
    std::printf("%8d %18llu %6d %22.15g %12.6g %10d %9.3f  %s%s\n", out.index,
                static_cast<unsigned long long>(runs.jobs[static_cast<std::size_t>(out.index)].seed), out.group,
                out.objective, out.heldout_error, out.iterations, out.seconds,
                out.ok ? out.stop_reason.c_str() : "FAILED", out.index == runs.best_index ? "  <- kept" : "");
    if (!out.ok)
      std::fprintf(stderr, "nmf_mpi: warning: restart %d failed and was skipped: %s\n", out.index, out.error.c_str());
  }
  std::fflush(stdout);
}

RankChoice choose_ratings_rank(const Options& o, MPI_Comm world, const SubGroups& groups, const ProcessGrid& grid,
                               const Layout& layout, const RatingsSplit& data, const RatingsFit& fit, bool talk) {
  RankChoice choice;
  choice.folds = o.cv_folds > 0 ? o.cv_folds : 3;
  std::vector<Job> jobs;
  for (int k : o.k_values)
    for (int fold = 0; fold < choice.folds; ++fold)
      jobs.push_back(Job{static_cast<int>(jobs.size()), k, fold, 0, o.seed});
  if (talk) {
    std::printf(
        "choosing k by cross-validation on the training ratings: %zu values of k x %d folds = %zu fits on %d "
        "subgroup%s\n",
        o.k_values.size(), choice.folds, jobs.size(), groups.count, groups.count == 1 ? "" : "s");
    std::fflush(stdout);
  }
  const std::vector<JobOutcome> outcomes = run_jobs(world, groups, jobs, [&](const Job& job) {
    refuse_after_signal();
    RatingsSplit fold = ratings_fold_split(data.train, layout, grid, choice.folds, job.fold, o.seed);
    return outcome_of(fit(job, fold, false), true);
  });
  end_if_signalled(world);
  for (int k : o.k_values) choice.scores.push_back(ratings_score_of(k, jobs, outcomes));
  if (talk)
    for (const JobOutcome& out : outcomes)
      if (!out.ok)
        std::fprintf(stderr, "nmf_mpi: warning: cross-validation fit %d failed and was skipped: %s\n", out.index,
                     out.error.c_str());
  choice.k = choose_rank(choice.scores, "min");
  if (choice.k == 0) NMF_THROW_REPLICATED(ExitCode::failure, "every cross-validation fit failed; no k can be chosen");
  if (talk) print_ratings_choice(choice);
  return choice;
}

nlohmann::ordered_json ratings_rank_selection_json(const RankChoice& choice) {
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  for (const RankScore& s : choice.scores)
    entries.push_back({{"k", s.k},
                       {"folds", s.folds},
                       {"rmse_train", s.train_error},
                       {"rmse_train_std", s.train_std},
                       {"rmse_validation", s.heldout_error},
                       {"rmse_validation_std", s.heldout_std}});
  return {{"chosen", choice.k}, {"rule", "min"}, {"cv_folds", choice.folds}, {"entries", entries}};
}

std::string ratings_rank_selection_csv(const RankChoice& choice) {
  return rank_selection_csv(choice, "k,folds,rmse_train,rmse_train_std,rmse_validation,rmse_validation_std,chosen");
}

RatingsFinalFit fit_ratings_with_restarts(const Options& o, MPI_Comm world, const SubGroups& groups, RatingsSplit& data,
                                          const RatingsFit& fit) {
  RatingsFinalFit result;
  FinalFit& runs = result.runs;
  for (int r = 0; r < o.restarts; ++r) runs.jobs.push_back(Job{r, o.k, -1, r, restart_seed(o.seed, r)});
  if (runs.jobs.size() == 1 && groups.count == 1) {  // a plain fit: its errors end the run as they are
    result.best = fit(runs.jobs.front(), data, true);
    runs.winner = true;
    runs.best_index = 0;
    return result;
  }
  // Each subgroup keeps only its best restart yet (two sets of factors at most), as plain NMF's restarts do.
  bool held = false;
  // Errors of the input (no training ratings left) end the run rather than skipping the restart.
  std::optional<LocalFailure> bad_input;
  runs.outcomes = run_jobs(world, groups, runs.jobs, [&](const Job& job) {
    refuse_after_signal();
    data.train.residual = data.train.csr.values;  // each fit starts from the ratings (make_observed_block)
    RatingsResult r;
    try {
      r = fit(job, data, runs.jobs.size() == 1);
    } catch (const CollectiveError& e) {
      if ((e.code() == ExitCode::usage || e.code() == ExitCode::bad_input) && !bad_input)
        bad_input = LocalFailure{e.what(), e.code(), e.origin_rank()};
      throw;
    }
    const FactorizationResult outcome = outcome_of(r, false);
    if (!held || r.fit.objective < result.best.fit.objective) result.best = std::move(r);
    held = true;
    return outcome;
  });
  agree_on_failure(world, bad_input);
  std::vector<int> all(runs.jobs.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  runs.best_index = best_job(world, groups, runs.outcomes, all);
  if (runs.best_index < 0)
    NMF_THROW_REPLICATED(ExitCode::failure, "every restart failed; the first: " + runs.outcomes.front().error);
  runs.winner = runs.outcomes[static_cast<std::size_t>(runs.best_index)].group == groups.index;
  return result;
}

}  // namespace nmf::detail
