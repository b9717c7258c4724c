// Internal to the driver: one factorization job (a restart, or a cross-validation fold) on one subgroup's copy
// of X, from the run's options: the solver with its options, the stop rules, the loss, the initial factors.
#pragma once

#include "nmf/driver/checkpoint.hpp"
#include "nmf/driver/factorization.hpp"
#include "nmf/driver/jobs.hpp"
#include "nmf/options.hpp"
#include "report.hpp"

namespace nmf::detail {

class JobRunner {
 public:
  JobRunner(const Options& options, const ProcessGrid& grid, const DistMatrix& x, bool talk)
      : o_(options), grid_(grid), x_(x), logger_(talk, options.log_every), logger_talks_(talk) {}

  // Collective over the subgroup. A job with a fold (>= 0) leaves that fold's entries out of the loss. `log`
  // shows the iterations (for a run of a single job).
  FactorizationResult run(const Job& job, bool log);

 private:
  // The job's initial factors, with what made them into `result` (init, init_seconds, svd_seconds).
  Factors initial_factors(const Job& job, FactorizationResult& result);
  // Factors of the job's shape for a checkpoint to fill (values unset), with result.init saying so.
  Factors resumed_factors_shape(const Job& job, FactorizationResult& result) const;
  // Collective over the subgroup: the checkpoint hook of `job` (signals, time limit, checkpoints, resume).
  std::unique_ptr<Checkpointer> hook_for(const Job& job) const;

  const Options& o_;
  const ProcessGrid& grid_;
  const DistMatrix& x_;
  ConsoleLogger logger_;
  // The last randomized SVD (SVD-based --init), kept for the restarts of the same k: X does not change.
  struct {
    int k = 0;
    TruncatedSvd svd;
    double seconds = 0;
  } svd_cache_;
  bool logger_talks_;
};

// The stop rules the options ask for.
StopRules stop_rules(const Options& options);

// Collective over `comm`: what every checkpoint of a fit of X must share with the run that resumes it: the input
// (its fingerprint), the shape, k, the solver and its options, the seed of the initial factors. Callers add
// their own keys (penalties and restart; the recommender's options).
nlohmann::ordered_json fit_identity(const Options& options, MPI_Comm comm, const DistMatrix& x, int k,
                                    std::uint64_t seed);
// The grid a checkpoint records (a checkpoint of another grid is redistributed on resume).
nlohmann::ordered_json checkpoint_grid(const ProcessGrid& grid);
// The checkpoint, resume, signal and time-limit settings of the options.
CheckpointSettings checkpoint_settings(const Options& options, bool talk);

// Throws the same UsageError on every rank (decided on replicated options only) if the solver cannot do what
// the options ask: penalties, or the held-out loss of cross-validation.
void check_solver(const Options& options, bool cross_validating);

}  // namespace nmf::detail
