#include "nmf/driver/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <limits>

#include "nmf/mpi.hpp"
#include "nmf/version.hpp"

namespace nmf {

// --- stop signals -----------------------------------------------------------------------------------------------

namespace {

volatile std::sig_atomic_t caught_signal = 0;  // written by the handler only (async-signal-safe)
bool agreed_on_signal = false;

extern "C" void on_stop_signal(int signal_number) {
  caught_signal = signal_number;
}

const char* signal_name(int signal_number) {
  switch (signal_number) {
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    default:
      return "a signal";
  }
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // the MPI library's and the file system's calls go on; the loop polls the flag
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

int caught_stop_signal() {
  return static_cast<int>(caught_signal);
}

void reset_caught_stop_signal() {
  caught_signal = 0;
  agreed_on_signal = false;
}

bool stopped_by_signal() {
  return agreed_on_signal;
}

// --- history as JSON ----------------------------------------------------------------------------------------------

namespace {

nlohmann::ordered_json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
}

double number_from(const nlohmann::json& value) {
  return value.is_null() ? std::numeric_limits<double>::quiet_NaN() : value.get<double>();
}

// Checkpoints sort by name: the iteration, zero-padded.
std::string checkpoint_name(const std::string& family, int iteration) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%09d", iteration);
  return family + "-it" + digits;
}

// Time for the final checkpoint and the outputs that --time-limit keeps free (Checkpointer::write_reserve_seconds):
// kWriteSafety times the longest checkpoint write seen (the outputs are about as large; text outputs slower), and
// at least kMinimumWriteReserveSeconds; plus kWriteSafety times kSecondsPerHistoryRecord for every record of the
// history in every file that holds it (the manifest and the summary: one JSON record per evaluated iteration,
// about 10 us each to build and write, measured with 200,000 records of a 24 x 18 problem), since a long history
// of tiny iterations takes longer to write than any checkpoint seen before it.
constexpr double kMinimumWriteReserveSeconds = 2.0;
constexpr double kWriteSafety = 3.0;
constexpr double kSecondsPerHistoryRecord = 10e-6;

}  // namespace

nlohmann::ordered_json history_to_json(const std::vector<IterationRecord>& history) {
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const IterationRecord& r : history)
    records.push_back({{"iteration", r.iteration},
                       {"evaluated", r.evaluated},
                       {"relative_error", number_or_null(r.relative_error)},
                       {"objective", number_or_null(r.objective)},
                       {"objective_change", number_or_null(r.objective_change)},
                       {"projected_gradient", number_or_null(r.projected_gradient)},
                       {"heldout_error", number_or_null(r.heldout_error)},
                       {"rmse_train", number_or_null(r.rmse_train)},
                       {"rmse_test", number_or_null(r.rmse_test)},
                       {"mae_test", number_or_null(r.mae_test)},
                       {"seconds", r.seconds}});
  return records;
}

std::vector<IterationRecord> history_from_json(const nlohmann::json& json) {
  std::vector<IterationRecord> history;
  for (const nlohmann::json& r : json) {
    IterationRecord record;
    record.iteration = r.at("iteration").get<int>();
    record.evaluated = r.at("evaluated").get<bool>();
    record.relative_error = number_from(r.at("relative_error"));
    record.objective = number_from(r.at("objective"));
    record.objective_change = number_from(r.at("objective_change"));
    record.projected_gradient = number_from(r.at("projected_gradient"));
    record.heldout_error = number_from(r.at("heldout_error"));
    // The recommender's errors (absent from the checkpoints of versions before they were recorded: unknown)
    record.rmse_train = number_from(r.value("rmse_train", nlohmann::json()));
    record.rmse_test = number_from(r.value("rmse_test", nlohmann::json()));
    record.mae_test = number_from(r.value("mae_test", nlohmann::json()));
    record.seconds = r.at("seconds").get<double>();
    history.push_back(record);
  }
  return history;
}

// --- the checkpointer -----------------------------------------------------------------------------------------------

Checkpointer::Checkpointer(MPI_Comm comm, CheckpointSettings settings, std::string family,
                           nlohmann::ordered_json identity, nlohmann::ordered_json grid)
    : comm_(comm),
      settings_(std::move(settings)),
      family_(std::move(family)),
      identity_(std::move(identity)),
      grid_(std::move(grid)),
      last_write_end_(MPI_Wtime()),
      last_iteration_end_(last_write_end_) {}

std::optional<std::string> Checkpointer::stop_requested(int /*iteration*/) {
  // Rank 0's clock decides the time rules and every rank's flag counts for the signal, so one all-reduce makes
  // the decision the same everywhere.
  int flags[3] = {caught_stop_signal(), 0, 0};
  if (rank_in(comm_) == 0) {
    const double now = MPI_Wtime();
    longest_iteration_ = std::max(longest_iteration_, now - last_iteration_end_);
    last_iteration_end_ = now;
    if (settings_.time_limit > 0 &&
        now - settings_.process_start + longest_iteration_ + write_reserve_seconds() >= settings_.time_limit)
      flags[1] = 1;
    if (!settings_.dir.empty() && settings_.every_seconds > 0 && now - last_write_end_ >= settings_.every_seconds)
      flags[2] = 1;
  }
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, flags, 3, MPI_INT, MPI_MAX, comm_));
  seconds_due_ = flags[2] != 0;
  if (flags[0] != 0) {
    agreed_on_signal = true;
    if (settings_.talk) {
      std::printf("%s caught: stopping after this iteration%s\n", signal_name(flags[0]),
                  settings_.dir.empty() ? "" : " with a checkpoint");
      std::fflush(stdout);
    }
    return std::string("interrupted");
  }
  if (flags[1] != 0) return std::string("time_limit");
  return std::nullopt;
}

double Checkpointer::write_reserve_seconds() const {
  const int history_files = settings_.dir.empty() ? 1 : 2;  // the summary, and the final checkpoint's manifest
  const double history = kSecondsPerHistoryRecord * history_files * static_cast<double>(history_records_);
  return std::max(kMinimumWriteReserveSeconds, kWriteSafety * longest_write_) + kWriteSafety * history;
}

void Checkpointer::iteration_ended(const LoopState& state, const std::string& stop_reason) {
  if (state.history) history_records_ = state.history->size();
  if (settings_.dir.empty() || state.iteration == last_written_iteration_) return;
  const bool due =
      !stop_reason.empty() || (settings_.every > 0 && state.iteration % settings_.every == 0) || seconds_due_;
  if (due) write(state, stop_reason);
}

nlohmann::ordered_json Checkpointer::manifest_of(const LoopState& state, const std::string& stop_reason) const {
  nlohmann::ordered_json manifest;
  manifest["format"] = "nmf_mpi checkpoint";
  manifest["format_version"] = 1;
  manifest["written_by"] = std::string("nmf_mpi ") + NMF_VERSION;
  manifest["identity"] = identity_;
  manifest["grid"] = grid_;
  manifest["iteration"] = state.iteration;
  manifest["seconds"] = state.seconds;
  manifest["stop_reason"] = stop_reason;
  // The solvers' random streams (kaczmarz) are counter-based, keyed by seed, rank and iteration: their state is
  // the seed (in the identity) and the next iteration.
  manifest["random_stream"] = {{"generator", "counter-based, keyed by (seed, stream, rank, iteration)"},
                               {"next_iteration", state.iteration + 1}};
  nlohmann::ordered_json replicated = nlohmann::ordered_json::object();
  for (const auto& [name, values] : state.replicated) replicated[name] = doubles_to_hex(values);
  manifest["replicated"] = replicated;
  manifest["history"] = state.history ? history_to_json(*state.history) : nlohmann::ordered_json::array();
  return manifest;
}

void Checkpointer::write(const LoopState& state, const std::string& stop_reason) {
  const double start = MPI_Wtime();
  if (state.prepare) state.prepare();
  std::vector<CheckpointArray> arrays = state.arrays;
  arrays.insert(arrays.end(), state.grid_arrays.begin(), state.grid_arrays.end());
  try {
    last_path_ = write_checkpoint(comm_, settings_.dir, family_ + "-it", checkpoint_name(family_, state.iteration),
                                  arrays, manifest_of(state, stop_reason), settings_.keep);
  } catch (const CollectiveError& e) {
    // Agreed on every rank. The previous checkpoints are intact and hours of iterations are worth more than one
    // checkpoint: say so and go on (the next one is tried when due).
    if (rank_in(comm_) == 0)
      std::fprintf(stderr, "nmf_mpi: warning: no checkpoint at iteration %d: %s\n", state.iteration, e.what());
    return;
  }
  const double end = MPI_Wtime();
  longest_write_ = std::max(longest_write_, end - start);
  write_seconds_total_ += end - start;
  last_write_end_ = end;
  last_written_iteration_ = state.iteration;
  ++written_;
  if (settings_.talk) {
    std::printf("checkpoint: iteration %d in %s (%.3f s)\n", state.iteration, last_path_.c_str(), end - start);
    std::fflush(stdout);
  }
}

void Checkpointer::check_identity(const std::string& path, const nlohmann::json& manifest) const {
  if (!manifest.contains("identity") || !manifest["identity"].is_object())
    NMF_THROW_REPLICATED(ExitCode::usage, "checkpoint '" + path + "' has no identity: it is not nmf_mpi's");
  const nlohmann::json& theirs = manifest["identity"];
  const nlohmann::json identity = nlohmann::json::parse(identity_.dump());  // keys sorted as the manifest's
  for (const auto& [key, ours] : identity.items()) {
    const std::string ours_text = ours.dump();
    const std::string theirs_text = theirs.contains(key) ? theirs[key].dump() : std::string("(none)");
    if (ours_text != theirs_text)
      NMF_THROW_REPLICATED(ExitCode::usage, "--resume: checkpoint '" + path + "' belongs to another run: its " + key +
                                                " is " + theirs_text + ", this run's is " + ours_text +
                                                " (give the options of the run that wrote it, or another directory)");
  }
}

bool Checkpointer::will_resume() const {
  return !settings_.resume_dir.empty() && !list_checkpoints(comm_, settings_.resume_dir, family_ + "-it").empty();
}

bool Checkpointer::restore(LoopState& state) {
  state.grid_arrays_restored = false;
  if (settings_.resume_dir.empty()) return false;
  const double start = MPI_Wtime();
  const std::vector<std::string> paths = list_checkpoints(comm_, settings_.resume_dir, family_ + "-it");
  if (paths.empty()) {
    if (settings_.talk) {
      std::printf("--resume: no checkpoint of %s in %s; starting from the beginning\n", family_.c_str(),
                  settings_.resume_dir.c_str());
      std::fflush(stdout);
    }
    return false;
  }
  std::string refusals;
  for (const std::string& path : paths) {
    try {
      const nlohmann::json manifest = read_checkpoint_manifest(comm_, path);
      check_identity(path, manifest);
      read_checkpoint_arrays(comm_, path, manifest, state.arrays);
      const bool same_grid = manifest.at("grid").dump() == nlohmann::json::parse(grid_.dump()).dump();
      state.grid_arrays_restored = false;  // as a previous, refused checkpoint may have left it
      if (same_grid && !state.grid_arrays.empty()) {
        read_checkpoint_arrays(comm_, path, manifest, state.grid_arrays);
        state.grid_arrays_restored = true;
      }
      collectively(comm_, [&] {
        state.iteration = manifest.at("iteration").get<int>();
        state.seconds = manifest.at("seconds").get<double>();
        for (auto& [name, values] : state.replicated) {
          if (!manifest.at("replicated").contains(name))
            NMF_THROW(InputError, "checkpoint '" + path + "': no " + name + " in its manifest");
          values = doubles_from_hex(manifest.at("replicated").at(name).get<std::string>());
        }
        if (state.history) *state.history = history_from_json(manifest.at("history"));
      });
      resumed_from_ = last_path_ = path;
      last_written_iteration_ = state.iteration;
      if (settings_.talk) {
        const std::string grid_note =
            same_grid ? std::string() : " (written on " + manifest.at("grid").dump() + ", redistributed)";
        std::printf("--resume: iteration %d from %s%s (read in %.3f s)\n", state.iteration, path.c_str(),
                    grid_note.c_str(), MPI_Wtime() - start);
        std::fflush(stdout);
      }
      return true;
    } catch (const CollectiveError& e) {
      if (e.code() == ExitCode::usage) throw;  // another run's checkpoint: never fall back past it
      refusals += std::string(refusals.empty() ? "" : "; ") + e.what();
      if (rank_in(comm_) == 0) std::fprintf(stderr, "nmf_mpi: warning: %s; trying the previous checkpoint\n", e.what());
    }
  }
  NMF_THROW_REPLICATED(ExitCode::bad_input, "--resume: no checkpoint in '" + settings_.resume_dir + "' verifies: " +
                                                refusals + " (remove the directory to start from the beginning)");
}

}  // namespace nmf
