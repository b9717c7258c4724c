// Internal to the driver: the final fit, --restarts random starts of the chosen k on all of X, spread over the
// subgroups; the best by objective is the run's result and only its subgroup keeps and writes its factors.
#pragma once

#include <nlohmann/json.hpp>

#include "job_runner.hpp"

namespace nmf::detail {

struct FinalFit {
  FactorizationResult best;  // on the winning subgroup: the best restart (elsewhere: this subgroup's best)
  bool winner = false;       // whether this rank's subgroup ran the best restart
  int best_index = -1;
  std::vector<Job> jobs;
  std::vector<JobOutcome> outcomes;  // every restart's, on every rank
};

// Collective over `world`. Throws the same CollectiveError everywhere if every restart failed.
FinalFit fit_with_restarts(const Options& options, MPI_Comm world, const SubGroups& groups, JobRunner& runner);

// The summary's restart table.
nlohmann::ordered_json restart_table(const FinalFit& fit);

// Prints the restart table (rank 0) and warnings for the restarts that failed.
void print_restarts(const FinalFit& fit);

}  // namespace nmf::detail
