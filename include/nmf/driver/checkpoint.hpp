// Checkpoints, resume, stop signals and the time limit: what happens at the end of every iteration of a loop.
//
// A loop (AlternatingFactorization::run, the recommender's loop) calls its IterationEndHook at ONE place, the
// end of each iteration:
//   1. stop_requested(iteration): collective; one small all-reduce agrees on whether any rank caught SIGTERM
//      or SIGUSR1 and whether rank 0's clock says the time limit is near. The answer is the same on every rank.
//   2. the loop evaluates its last iterate if it stops, and records it;
//   3. iteration_ended(state, stop_reason): collective; writes a checkpoint of `state` when one is due
//      (--checkpoint-every, --checkpoint-every-seconds) and always when the loop stops.
// Before its first iteration the loop offers its (initial) state to restore(): with --resume, the arrays are
// overwritten from the newest checkpoint that verifies, and the loop goes on from its iteration.
//
// The state is a list of named distributed arrays (each rank's slice, in global-index order: A's rows, S's
// columns; the recommender adds its biases as two more arrays), replicated values the loop reuses between
// iterations (a Gram matrix, the initial projected gradient), the iteration, the iteration seconds so far and
// the history. The files are nmf/io/checkpoint_files.hpp's.
#pragma once

#include <mpi.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nmf/driver/monitor.hpp"
#include "nmf/io/checkpoint_files.hpp"

namespace nmf {

// --- stop signals -------------------------------------------------------------------------------------------
// SIGTERM and SIGUSR1 set a flag (async-signal-safe) that the next stop_requested() reads. Installed once per
// process by run_factorization (and tests).
void install_stop_signal_handlers();
// The signal this rank caught (SIGTERM, SIGUSR1) or 0. For tests: raise() and reset.
int caught_stop_signal();
void reset_caught_stop_signal();
// Whether some loop of this process stopped because the ranks agreed on a signal (its subgroup agreed; see
// run.cpp for the run-wide agreement). Sticky until reset_caught_stop_signal().
bool stopped_by_signal();

// --- the hook ----------------------------------------------------------------------------------------------------

// What a loop carries from one iteration to the next (see above). `arrays` point into the loop's own slices.
struct LoopState {
  int iteration = 0;   // iterations done
  double seconds = 0;  // iteration seconds so far, resumed runs included (rank 0's clock)
  std::vector<CheckpointArray> arrays;
  std::map<std::string, std::vector<double>> replicated;  // the same on every rank
  std::vector<IterationRecord>* history = nullptr;        // the evaluated iterations so far
  // Arrays laid out by this grid's ranks rather than by global index (the recommender's residual per rating,
  // in rank order): written with the others, read back only by a run on the same grid (the checkpoint's "grid"
  // equal to the hook's), which then sets `grid_arrays_restored`; a run on another grid rebuilds them.
  std::vector<CheckpointArray> grid_arrays;
  bool grid_arrays_restored = false;
  // Called (if set) just before the arrays are written, so that a loop whose own storage is not in the arrays'
  // layout copies into them only when a checkpoint is due, not at every iteration.
  std::function<void()> prepare;
};

class IterationEndHook {
 public:
  virtual ~IterationEndHook() = default;
  // Collective over the loop's communicator: "interrupted" (a rank caught SIGTERM or SIGUSR1) or "time_limit"
  // (the next iteration and the writing would not fit in --time-limit), the same on every rank; or nothing.
  virtual std::optional<std::string> stop_requested(int iteration) = 0;
  // Collective: checkpoints `state` if one is due, or if `stop_reason` is not empty (the loop ends).
  virtual void iteration_ended(const LoopState& state, const std::string& stop_reason) = 0;
  // Collective: with --resume, fills `state` (arrays' data, replicated values, iteration, seconds, history) from
  // the newest checkpoint of this job that verifies and returns true; false to start afresh. The arrays
  // come sized and named by the loop.
  virtual bool restore(LoopState& state) = 0;
};

// --- the policy of nmf_mpi's options -----------------------------------------------------------------------------

struct CheckpointSettings {
  std::string dir;           // --checkpoint-dir; empty: no checkpoints
  int every = 0;             // --checkpoint-every N iterations; 0: not by count
  double every_seconds = 0;  // --checkpoint-every-seconds S; 0: not by time
  int keep = 1;              // --checkpoint-keep K
  std::string resume_dir;    // --resume DIR; empty: start afresh
  double time_limit = 0;     // --time-limit SECONDS, counted from process_start; 0: none
  double process_start = 0;  // MPI_Wtime() when nmf_mpi started (rank 0's value counts)
  bool talk = false;         // print what is checkpointed and resumed
};

// The hook behind nmf_mpi's options, for one job (a restart) on one subgroup. `identity` says what the
// checkpoint belongs to: input fingerprint, shape, k, algorithm, solver options, seed, penalties, job; a
// checkpoint whose identity differs in any key is refused with a message naming it. `family` prefixes the
// checkpoints' names in the directory (one family per job). `grid` is recorded ({"P", "grid"}); a checkpoint
// from another grid is read by redistribution.
class Checkpointer final : public IterationEndHook {
 public:
  Checkpointer(MPI_Comm comm, CheckpointSettings settings, std::string family, nlohmann::ordered_json identity,
               nlohmann::ordered_json grid);

  std::optional<std::string> stop_requested(int iteration) override;
  void iteration_ended(const LoopState& state, const std::string& stop_reason) override;
  bool restore(LoopState& state) override;
  // Collective: whether restore() will resume from a checkpoint (--resume and one exists: it is restored, or the
  // run is refused), so a loop need not make initial factors it would throw away.
  bool will_resume() const;

  // The checkpoint last written or restored ("" if none), for the summary and the log.
  const std::string& last_checkpoint() const { return last_path_; }
  const std::string& resumed_from() const { return resumed_from_; }
  double checkpoint_seconds() const { return write_seconds_total_; }
  int checkpoints_written() const { return written_; }

 private:
  void write(const LoopState& state, const std::string& stop_reason);
  // Seconds --time-limit keeps for the final checkpoint and outputs: grows with the longest checkpoint written and
  // with the history's length (src/driver/checkpoint.cpp; README, Time limit).
  double write_reserve_seconds() const;
  nlohmann::ordered_json manifest_of(const LoopState& state, const std::string& stop_reason) const;
  // Throws the same UsageError on every rank if `manifest` is not this job's.
  void check_identity(const std::string& path, const nlohmann::json& manifest) const;

  MPI_Comm comm_;
  CheckpointSettings settings_;
  std::string family_;
  nlohmann::ordered_json identity_, grid_;
  bool seconds_due_ = false;       // agreed in stop_requested
  double last_write_end_ = 0;      // rank 0's clock
  double last_iteration_end_ = 0;  // rank 0's clock
  double longest_iteration_ = 0, longest_write_ = 0;
  std::size_t history_records_ = 0;  // the loop's history at the last iteration's end
  double write_seconds_total_ = 0;
  int written_ = 0;
  int last_written_iteration_ = -1;
  std::string last_path_, resumed_from_;
};

// Exact JSON for the history (NaN, "unknown", as null) and back.
nlohmann::ordered_json history_to_json(const std::vector<IterationRecord>& history);
std::vector<IterationRecord> history_from_json(const nlohmann::json& json);

}  // namespace nmf
