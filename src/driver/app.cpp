#include "nmf/app.hpp"

#include <cstdio>
#include <iostream>

#include "nmf/driver/factorization.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/output.hpp"
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
  return r;
}

void print_header(const Options& o, const ProcessGrid& grid, const std::string& description, const DistMatrix& x,
                  double read_seconds) {
  const MatrixStats& st = x.stats;
  std::printf("nmf_mpi %s: %d rank%s as a %s grid\n", version_string().c_str(), grid.size(),
              grid.size() == 1 ? "" : "s", grid.shape().str().c_str());
  std::printf("input: %s%s\n", description.c_str(), o.transpose ? ", transposed" : "");
  std::printf("X: %lld x %lld, %lld nonzeros, %s storage, read in %.3f s; nonzeros per rank min %lld max %lld\n",
              static_cast<long long>(x.layout.n), static_cast<long long>(x.layout.m),
              static_cast<long long>(st.nonzeros), storage_name(x.block.storage), read_seconds,
              static_cast<long long>(st.min_block_nonzeros), static_cast<long long>(st.max_block_nonzeros));
  std::printf("k = %d, algo = %s, seed = %llu, at most %d iterations, tol = %g", o.k, o.algo.c_str(),
              static_cast<unsigned long long>(o.seed), o.max_iterations, o.tol);
  if (o.tol_pg > 0) std::printf(", tol-pg = %g", o.tol_pg);
  if (o.time_limit > 0) std::printf(", time limit %g s", o.time_limit);
  if (o.l1_a > 0 || o.l2_a > 0 || o.l1_s > 0 || o.l2_s > 0)
    std::printf(", penalties l1_A %g l2_A %g l1_S %g l2_S %g", o.l1_a, o.l2_a, o.l1_s, o.l2_s);
  std::printf("\n");
  std::fflush(stdout);
}

int run(const CommandLine& cli, const Comm& comm) {
  const Options& o = cli.options;
  const int rank = comm.rank();
  const bool talk = rank == 0 && !o.quiet;
  const double start = MPI_Wtime();

  OutputFormat output_format = parse_output_format(o.output_format);
  OutputPaths paths;
  if (!o.output.empty()) {
    paths = output_paths(o.output, output_format);
    check_output_prefix(comm.get(), o.output);
  }

  std::unique_ptr<InputSource> source =
      o.input.empty() ? dense_in_memory(builtin_example_matrix(),
                                        "built-in example (the origin notebook's 12 x 10 matrix)", o.transpose)
                      : open_input(comm.get(), read_options(o));
  const InputShape shape = source->shape();
  const GridShape grid_shape = collectively(comm.get(), [&] {
    validate_rank_for_shape(o.k, shape.rows, shape.cols);
    if (o.grid == "auto") return choose_grid_shape(comm.size(), shape.rows, shape.cols);
    const GridShape requested = parse_grid_shape(o.grid);
    validate_grid_shape(requested, comm.size(), shape.rows, shape.cols);
    return requested;
  });
  if (o.print && shape.rows * shape.cols > kMaxPrintedEntries)
    NMF_THROW_REPLICATED(ExitCode::usage, "--print is for matrices of at most 100 x 100 entries");
  const ProcessGrid grid(comm.get(), grid_shape);

  const DistMatrix x = source->distribute(grid);
  const double read_seconds = MPI_Wtime() - start;
  if (x.stats.frobenius_sq == 0.0)
    NMF_THROW_REPLICATED(ExitCode::bad_input,
                         source->description() + ": every entry is zero; there is nothing to factor");
  if (talk) {
    print_header(o, grid, source->description(), x, read_seconds);
    if (x.stats.duplicates > 0)
      std::fprintf(stderr, "nmf_mpi: warning: %s: %lld duplicate entries were summed\n", o.input.c_str(),
                   static_cast<long long>(x.stats.duplicates));
  }

  SolverParams solver_params;
  solver_params.k = o.k;
  solver_params.inner_sweeps = o.inner;
  solver_params.seed = o.seed;
  solver_params.kaczmarz_steps = o.kaczmarz_steps;
  solver_params.kaczmarz_block = o.kaczmarz_block;
  solver_params.kaczmarz_sampling = o.kaczmarz_sampling;
  solver_params.kaczmarz_relaxation = o.kaczmarz_relaxation;
  const std::unique_ptr<LocalSolver> solver = make_solver(o.algo, solver_params);
  if (!solver->supports_penalties() && (o.l1_a > 0 || o.l2_a > 0 || o.l1_s > 0 || o.l2_s > 0))
    NMF_THROW_REPLICATED(ExitCode::usage, "--algo " + o.algo +
                                              " does not support the penalties --l1-A, --l2-A, "
                                              "--l1-S, --l2-S; use bpp, hals, mu or als");
  StopRules rules;
  rules.push_back(std::make_unique<MaxIterations>(o.max_iterations));
  if (o.tol > 0) rules.push_back(std::make_unique<ObjectiveChangeBelow>(o.tol));
  if (o.tol_pg > 0) rules.push_back(std::make_unique<ProjectedGradientBelow>(o.tol_pg));
  if (o.time_limit > 0) rules.push_back(std::make_unique<TimeLimit>(o.time_limit));
  detail::ConsoleLogger logger(talk, o.log_every);
  DriverOptions driver_options;
  driver_options.penalties = Penalties{o.l1_a, o.l2_a, o.l1_s, o.l2_s};
  driver_options.eval_every = o.eval_every;
  AlternatingFactorization factorization(grid, x, *solver, driver_options);
  const FactorizationResult result = factorization.run(random_factors(x, grid, o.k, o.seed), rules, &logger);

  if (talk) {
    std::printf("stopped after %d iterations (%s): relative error %.6g, %.3f s (%.3g s per iteration)\n",
                result.iterations, result.stop_reason.c_str(), result.relative_error, result.seconds,
                result.iterations > 0 ? result.seconds / result.iterations : 0.0);
    if (result.ridges > 0)
      std::printf("note: a singular or ill-conditioned Gram matrix needed a small diagonal ridge (%d updates)\n",
                  result.ridges);
  }
  if (o.print && !o.quiet) detail::print_small_problem(grid, x, result.factors);
  if (talk && o.print) std::printf("relative error ||X - A S||_F / ||X||_F = %.6g\n", result.relative_error);

  if (!o.output.empty()) {
    write_factors(grid, x.layout, result.factors, paths, output_format);
    detail::RunFacts facts{o,      source->description(), grid, x, result, read_seconds, MPI_Wtime() - start, paths.a,
                           paths.s};
    const std::string summary = detail::build_summary(facts).dump(1) + "\n";
    collectively(comm.get(), [&] {
      if (rank == 0) write_file_atomically(paths.summary, summary);
    });
    if (talk) std::printf("wrote %s, %s and %s\n", paths.a.c_str(), paths.s.c_str(), paths.summary.c_str());
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
