#include "cross_validation.hpp"

#include <cstdio>

namespace nmf::detail {

namespace {

std::vector<Job> sweep_jobs(const Options& o, int folds) {
  std::vector<Job> jobs;
  for (int k : o.k_values)
    for (int fold = 0; fold < folds; ++fold)
      for (int r = 0; r < o.restarts; ++r)
        jobs.push_back(Job{static_cast<int>(jobs.size()), k, fold, r, restart_seed(o.seed, r)});
  return jobs;
}

// One score per k from each fold's best restart (by training objective).
RankScore score_of(int k, int folds, const std::vector<Job>& jobs, const std::vector<JobOutcome>& outcomes) {
  std::vector<double> train, heldout;
  for (int fold = 0; fold < folds; ++fold) {
    const JobOutcome* best = nullptr;
    for (const Job& job : jobs) {
      const JobOutcome& out = outcomes[static_cast<std::size_t>(job.index)];
      if (job.k == k && job.fold == fold && out.ok && (!best || out.objective < best->objective)) best = &out;
    }
    if (!best) continue;
    train.push_back(best->relative_error);
    heldout.push_back(best->heldout_error);
  }
  return score_rank(k, train, heldout);
}

void print_choice(const RankChoice& choice, const std::string& rule) {
  std::printf("%6s %8s %14s %12s %14s %12s\n", "k", "folds", "train error", "(std)", "held-out error", "(std)");
  for (const RankScore& s : choice.scores)
    std::printf("%6d %8d %14.6g %12.3g %14.6g %12.3g%s\n", s.k, s.folds, s.train_error, s.train_std, s.heldout_error,
                s.heldout_std, s.k == choice.k ? "  <- chosen" : "");
  std::printf("chosen k = %d (%s rule); fitting it on all of X\n", choice.k,
              rule == "se" ? "one-standard-error" : "minimum");
  std::fflush(stdout);
}

}  // namespace

bool cross_validating(const Options& o) {
  return o.k_values.size() > 1 || o.cv_folds > 0;
}

RankChoice choose_rank_by_cross_validation(const Options& o, MPI_Comm world, const SubGroups& groups, JobRunner& runner,
                                           bool talk) {
  RankChoice choice;
  choice.folds = o.cv_folds > 0 ? o.cv_folds : 3;
  const std::vector<Job> jobs = sweep_jobs(o, choice.folds);
  if (talk) {
    std::printf("choosing k by cross-validation: %zu ranks x %d folds x %d restarts = %zu fits on %d subgroup%s\n",
                o.k_values.size(), choice.folds, o.restarts, jobs.size(), groups.count, groups.count == 1 ? "" : "s");
    std::fflush(stdout);
  }
  const std::vector<JobOutcome> outcomes =
      run_jobs(world, groups, jobs, [&](const Job& job) { return runner.run(job, false); });
  for (int k : o.k_values) choice.scores.push_back(score_of(k, choice.folds, jobs, outcomes));
  if (talk)
    for (const JobOutcome& out : outcomes)
      if (!out.ok)
        std::fprintf(stderr, "nmf_mpi: warning: cross-validation fit %d failed and was skipped: %s\n", out.index,
                     out.error.c_str());
  choice.k = choose_rank(choice.scores, o.rank_select);
  if (choice.k == 0) NMF_THROW_REPLICATED(ExitCode::failure, "every cross-validation fit failed; no k can be chosen");
  if (talk) print_choice(choice, o.rank_select);
  return choice;
}

std::string rank_selection_csv(const RankChoice& choice, const std::string& header) {
  std::string csv = header + "\n";
  char line[256];
  for (const RankScore& s : choice.scores) {
    std::snprintf(line, sizeof line, "%d,%d,%.17g,%.17g,%.17g,%.17g,%d\n", s.k, s.folds, s.train_error, s.train_std,
                  s.heldout_error, s.heldout_std, s.k == choice.k ? 1 : 0);
    csv += line;
  }
  return csv;
}

nlohmann::ordered_json rank_selection_json(const RankChoice& choice, const Options& o) {
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  for (const RankScore& s : choice.scores)
    entries.push_back({{"k", s.k},
                       {"folds", s.folds},
                       {"train_error", s.train_error},
                       {"train_std", s.train_std},
                       {"heldout_error", s.heldout_error},
                       {"heldout_std", s.heldout_std}});
  return {{"chosen", choice.k},
          {"rule", o.rank_select},
          {"cv_folds", choice.folds},
          {"cv_fraction", o.cv_fraction},
          {"entries", entries}};
}

}  // namespace nmf::detail
