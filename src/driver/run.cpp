#include "nmf/driver/run.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "cross_validation.hpp"
#include "input_setup.hpp"
#include "nmf/driver/checkpoint.hpp"
#include "nmf/driver/fold_in.hpp"
#include "nmf/driver/top_n.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/output.hpp"
#include "nmf/io/output_set.hpp"
#include "recommend_run.hpp"
#include "restarts.hpp"

namespace nmf {

namespace {

constexpr index_t kMaxPrintedEntries = 100 * 100;

// One subgroup's copy of X on its own grid.
struct Problem {
  SubGroups groups;
  std::unique_ptr<InputSource> source;
  std::unique_ptr<ProcessGrid> grid;
  DistMatrix x;
  double read_seconds = 0;
};

// The grid of `group_size` ranks the options ask for, checked against the matrix and every k.
GridShape grid_shape_for(const Options& o, MPI_Comm world, int group_size, const InputShape& shape) {
  return collectively(world, [&] {
    for (int k : o.k_values) validate_rank_for_shape(k, shape.rows, shape.cols);
    return detail::requested_grid_shape(o.grid, group_size, shape);
  });
}

// Collective over `world`: the subgroups, and each reads X itself onto its own grid.
Problem read_problem(const Options& o, MPI_Comm world, double start) {
  Problem p;
  p.groups = split_into_groups(world, o.groups);
  const MPI_Comm group = p.groups.group.get();
  const int largest_k = *std::max_element(o.k_values.begin(), o.k_values.end());  // the memory check counts factors
  p.source = o.input.empty()
                 ? dense_in_memory(builtin_example_matrix(), "built-in example (the origin notebook's 12 x 10 matrix)",
                                   o.transpose)
                 : open_input(group, detail::input_read_options(o, largest_k, parse_missing_entries(o.missing)));
  const InputShape shape = p.source->shape();
  const GridShape grid_shape = grid_shape_for(o, world, p.groups.group.size(), shape);
  if (o.print && shape.rows * shape.cols > kMaxPrintedEntries)
    NMF_THROW_REPLICATED(ExitCode::usage, "--print is for matrices of at most 100 x 100 entries");
  p.grid = std::make_unique<ProcessGrid>(group, grid_shape);
  p.x = p.source->distribute(*p.grid);
  p.read_seconds = MPI_Wtime() - start;
  if (p.x.stats.frobenius_sq == 0.0)
    NMF_THROW_REPLICATED(ExitCode::bad_input,
                         p.source->description() + ": every entry is zero; there is nothing to factor");
  return p;
}

// Collective over `world`: the winning subgroup writes the factors, the rank-selection table and last the
// summary (with every file's checksum), committed as a set; the whole job agrees on how it went.
void write_outputs(const Options& o, MPI_Comm world, OutputSet& outputs, const Problem& p, const detail::FinalFit& fit,
                   const std::optional<detail::RankChoice>& choice, double start) {
  const OutputPaths& paths = outputs.paths();
  const std::string csv_path = o.output + "_rank_selection.csv";
  std::optional<LocalFailure> failure;
  try {
    if (fit.winner) {
      const ProcessGrid& grid = *p.grid;
      outputs.write_factors(grid, p.x.layout, fit.best.factors);
      if (const IdMaps* ids = p.source->id_maps()) {  // rating files: the original ids of rows and columns
        outputs.add_text_pieces(grid.comm(), "row_ids", o.output + "_rows.txt", ids->rows);
        outputs.add_text_pieces(grid.comm(), "col_ids", o.output + "_cols.txt", ids->cols);
      }
      nlohmann::ordered_json extra;
      if (o.top_n > 0) {  // plain NMF: no biases
        const double top_n_start = MPI_Wtime();
        write_top_n(outputs, o.output + "_topn.csv", grid, p.x.layout, p.x.block, fit.best.factors, nullptr, o.top_n,
                    p.source->id_maps());
        extra["top_n"] = {{"n", o.top_n}, {"seconds", MPI_Wtime() - top_n_start}};
      }
      if (choice) {
        outputs.add_text_file(grid.comm(), "rank_selection", csv_path, detail::rank_selection_csv(*choice));
        extra["rank_selection"] = detail::rank_selection_json(*choice, o);
      }
      if (fit.jobs.size() > 1) {
        extra["restarts"] = detail::restart_table(fit);
        extra["best_restart"] = fit.best_index;
      }
      if (!o.checkpoint_dir.empty() || !o.resume.empty()) extra["checkpoint"] = detail::checkpoint_summary(o, fit.best);
      extra["files"] = nlohmann::ordered_json::parse(outputs.files_json());
      const detail::RunFacts facts{o,
                                   p.source->description(),
                                   grid,
                                   p.x,
                                   fit.best,
                                   p.read_seconds,
                                   MPI_Wtime() - start,
                                   paths.a,
                                   paths.s,
                                   size_of(world),
                                   p.groups.count,
                                   extra};
      outputs.commit(grid.comm(), detail::build_summary(facts).dump(1) + "\n");
    }
  } catch (const CollectiveError&) {
    failure = describe_current_exception();
  }
  agree_on_failure(world, failure);
  if (fit.winner && p.grid->rank() == 0 && !o.quiet)
    std::printf("wrote %s, %s and %s%s\n", paths.a.c_str(), paths.s.c_str(), paths.summary.c_str(),
                choice ? (" and " + csv_path).c_str() : "");
}

// Collective over `world`: if a signal stopped some subgroup's loop (each subgroup agreed on its own), the whole
// run ends with ExitCode::interrupted, after the outputs so far were written.
void end_if_interrupted(const Options& o, MPI_Comm world, bool outputs_written) {
  int stopped = stopped_by_signal() ? 1 : 0;
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &stopped, 1, MPI_INT, MPI_MAX, world));
  if (stopped == 0) return;
  std::string message = "a signal (SIGTERM or SIGUSR1) ended the iterations early";
  if (!o.output.empty() && outputs_written) message += "; the outputs hold the factors so far";
  if (!outputs_written) message += " while k was being chosen by cross-validation; nothing was written";
  if (!o.checkpoint_dir.empty())
    message += "; continue with --resume " + o.checkpoint_dir;
  else
    message += " (no --checkpoint-dir: nothing to resume from)";
  NMF_THROW_REPLICATED(ExitCode::interrupted, message);
}

}  // namespace

void run_factorization(const Options& options, MPI_Comm world) {
  if (!options.fixed_s.empty()) return run_fold_in(options, world);
  Options o = options;
  const double start = MPI_Wtime();
  o.start_time = start;
  install_stop_signal_handlers();
  const bool talk = rank_in(world) == 0 && !o.quiet;
  std::optional<OutputSet> outputs;  // holds the prefix's lock until the run ends
  if (!o.output.empty()) outputs.emplace(world, o.output, parse_output_format(o.output_format));
  detail::check_solver(o, false);

  Problem p = read_problem(o, world, start);  // not const: the recommender mode takes over X's block
  if (talk)
    detail::print_header(o, size_of(world), p.groups.count, *p.grid, p.source->description(), p.x, p.read_seconds);
  if (detail::recommender_mode(o, *p.source)) {  // the loss over the observed ratings only (README, Recommending)
    detail::run_recommender(o, world, p.groups, *p.grid, p.x, *p.source, p.read_seconds, outputs ? &*outputs : nullptr,
                            start);
    end_if_interrupted(o, world, true);
    return;
  }
  // The held-out loss of plain NMF's cross-validation (the recommender mode's folds use its own loss).
  if (detail::cross_validating(o)) detail::check_solver(o, true);
  detail::JobRunner runner(o, *p.grid, p.x, talk);

  std::optional<detail::RankChoice> choice;
  if (detail::cross_validating(o)) {
    choice = detail::choose_rank_by_cross_validation(o, world, p.groups, runner, talk);
    o.k = choice->k;
    end_if_interrupted(o, world, false);
  }
  const detail::FinalFit fit = detail::fit_with_restarts(o, world, p.groups, runner);
  if (talk && fit.jobs.size() > 1) detail::print_restarts(fit);
  if (fit.winner) detail::print_result(o, *p.grid, p.x, fit.best);
  if (outputs) write_outputs(o, world, *outputs, p, fit, choice, start);
  end_if_interrupted(o, world, true);
}

}  // namespace nmf
