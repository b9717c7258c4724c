// Many factorizations in one MPI job: random restarts and cross-validation folds, spread across equal
// subgroups of the ranks (MPI_Comm_split). Each subgroup holds its own distributed copy of X on its own
// process grid and runs the jobs dealt to it (job i to subgroup i mod G) one after the other; subgroups run
// concurrently. A job that fails (a NaN, an overflow) is reported and skipped; the others go on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nmf/driver/factorization.hpp"
#include "nmf/mpi.hpp"

namespace nmf {

// The subgroups and, on the rank 0 of each, the communicator of all subgroup leaders.
struct SubGroups {
  Comm group;    // the ranks of this rank's subgroup
  Comm leaders;  // valid on subgroup leaders only: one rank per subgroup, ordered by subgroup
  int count = 1;
  int index = 0;  // this rank's subgroup
  bool leader() const { return leaders.valid(); }
};

// Collective: splits `world` into `groups` equal subgroups of consecutive ranks. Every rank throws the same
// UsageError if `groups` does not divide the number of ranks.
SubGroups split_into_groups(MPI_Comm world, int groups);

// The seed of restart r: restart 0 keeps the run's seed (so one restart is a plain run); the others get
// 53-bit seeds drawn from the counter-based generator, different for every r, the same for any layout.
std::uint64_t restart_seed(std::uint64_t seed, int restart);

struct Job {
  int index = 0;  // position in the job list
  int k = 1;
  int fold = -1;  // cross-validation fold; -1 for a fit on all of X
  int restart = 0;
  std::uint64_t seed = 1;  // of this job's initial factors
};

struct JobOutcome {
  int index = 0;
  int group = 0;
  bool ok = false;
  double relative_error = 0, objective = 0, heldout_error = 0, seconds = 0;
  int iterations = 0;
  std::string stop_reason;  // the stop rule, or "failed"
  std::string error;        // why it failed
};

// Collective over `world`: runs every job on its subgroup with run_job (collective over the subgroup; it
// may throw, and the subgroup's ranks agree on failures as everywhere in libnmf) and returns every job's
// outcome, in job order, on every rank.
std::vector<JobOutcome> run_jobs(MPI_Comm world, const SubGroups& groups, const std::vector<Job>& jobs,
                                 const std::function<FactorizationResult(const Job&)>& run_job);

// Collective over `world`: the job with the smallest objective among the successful outcomes in `candidates`
// (indices into outcomes), found with an MPI_MINLOC reduction over the subgroup leaders; -1 if none succeeded.
int best_job(MPI_Comm world, const SubGroups& groups, const std::vector<JobOutcome>& outcomes,
             const std::vector<int>& candidates);

}  // namespace nmf
