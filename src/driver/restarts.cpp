#include "restarts.hpp"

#include <cstdio>
#include <optional>
#include <utility>

namespace nmf::detail {

namespace {

// Keeps the factorization with the lowest objective among the jobs this subgroup runs, so that a subgroup
// never holds more than two sets of factors however many restarts it runs.
class BestOnThisSubgroup {
 public:
  void consider(FactorizationResult&& result) {
    if (!held_ || result.objective < best_.objective) {
      best_ = std::move(result);
      held_ = true;
    }
  }
  FactorizationResult take() { return std::move(best_); }

 private:
  FactorizationResult best_;
  bool held_ = false;
};

}  // namespace

FinalFit fit_with_restarts(const Options& o, MPI_Comm world, const SubGroups& groups, JobRunner& runner) {
  FinalFit fit;
  for (int r = 0; r < o.restarts; ++r) fit.jobs.push_back(Job{r, o.k, -1, r, restart_seed(o.seed, r)});
  const bool log_iterations = fit.jobs.size() == 1;
  BestOnThisSubgroup best;
  // A checkpoint that cannot be resumed (another run's, or none that verifies: usage and bad_input, which nothing
  // else raises once X is read) ends the run rather than skipping the restart; the subgroup agreed on it.
  std::optional<LocalFailure> refused_checkpoint;
  // run_jobs takes each job's outcome from what is returned; the factors stay only if they are the best yet.
  fit.outcomes = run_jobs(world, groups, fit.jobs, [&](const Job& job) {
    FactorizationResult result;
    try {
      result = runner.run(job, log_iterations);
    } catch (const CollectiveError& e) {
      if ((e.code() == ExitCode::usage || e.code() == ExitCode::bad_input) && !refused_checkpoint)
        refused_checkpoint = LocalFailure{e.what(), e.code(), e.origin_rank()};
      throw;
    }
    Factors factors = std::exchange(result.factors, Factors{});
    FactorizationResult outcome = result;  // everything but the factors
    result.factors = std::move(factors);
    best.consider(std::move(result));
    return outcome;
  });
  agree_on_failure(world, refused_checkpoint);
  std::vector<int> all(fit.jobs.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  fit.best_index = best_job(world, groups, fit.outcomes, all);
  if (fit.best_index < 0)
    NMF_THROW_REPLICATED(ExitCode::failure, "every restart failed; the first: " + fit.outcomes.front().error);
  fit.winner = fit.outcomes[static_cast<std::size_t>(fit.best_index)].group == groups.index;
  fit.best = best.take();
  return fit;
}

nlohmann::ordered_json restart_table(const FinalFit& fit) {
  nlohmann::ordered_json table = nlohmann::ordered_json::array();
  for (const JobOutcome& out : fit.outcomes) {
    nlohmann::ordered_json entry = {{"index", out.index},
                                    {"seed", fit.jobs[static_cast<std::size_t>(out.index)].seed},
                                    {"group", out.group},
                                    {"relative_error", out.ok ? nlohmann::ordered_json(out.relative_error) : nullptr},
                                    {"objective", out.ok ? nlohmann::ordered_json(out.objective) : nullptr},
                                    {"iterations", out.iterations},
                                    {"seconds", out.seconds},
                                    {"stop_reason", out.stop_reason}};
    if (!out.ok) entry["error"] = out.error;
    table.push_back(entry);
  }
  return table;
}

void print_restarts(const FinalFit& fit) {
  std::printf("%8s %22s %8s %22s %10s %9s  %s\n", "restart", "seed", "group", "relative error", "iterations", "seconds",
              "stop");
  for (const JobOutcome& out : fit.outcomes) {
    std::printf("%8d %22llu %8d %22.15g %10d %9.3f  %s%s\n", out.index,
                static_cast<unsigned long long>(fit.jobs[static_cast<std::size_t>(out.index)].seed), out.group,
                out.relative_error, out.iterations, out.seconds, out.ok ? out.stop_reason.c_str() : "FAILED",
                out.index == fit.best_index ? "  <- best" : "");
    if (!out.ok)
      std::fprintf(stderr, "nmf_mpi: warning: restart %d failed and was skipped: %s\n", out.index, out.error.c_str());
  }
  std::fflush(stdout);
}

}  // namespace nmf::detail
