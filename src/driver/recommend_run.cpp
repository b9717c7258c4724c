#include "recommend_run.hpp"

#include <cmath>
#include <cstdio>
#include <optional>

#include "job_runner.hpp"
#include "nmf/driver/checkpoint.hpp"
#include "nmf/driver/ratings_factorization.hpp"
#include "nmf/driver/top_n.hpp"
#include "nmf/io/checkpoint_files.hpp"
#include "ratings_selection.hpp"
#include "report.hpp"

namespace nmf::detail {

bool recommender_mode(const Options& o, const InputSource& source) {
  const MissingEntries missing = parse_missing_entries(o.missing);
  return missing == MissingEntries::unobserved || (missing == MissingEntries::automatic && source.id_maps());
}

namespace {

// Refuses (the same on every rank: replicated options only) what the mode does not do.
void check_recommender_options(const Options& o, const DistMatrix& x) {
  const auto refuse = [](const std::string& why) { NMF_THROW_REPLICATED(ExitCode::usage, why); };
  check_ratings_selection_options(o);
  if (o.l1_a > 0 || o.l1_s > 0 || o.l2_a > 0 || o.l2_s > 0)
    refuse(
        "--l1-A, --l2-A, --l1-S and --l2-S belong to plain NMF; the recommender mode's penalties are --lambda "
        "(weighted L2 on A and S) and --lambda-bias");
  if (o.tol_pg > 0) refuse("--tol-pg is not available in the recommender mode");
  if ((!o.checkpoint_dir.empty() || !o.resume.empty()) && (o.restarts > 1 || o.k_values.size() > 1 || o.cv_folds > 0))
    refuse(
        "--checkpoint-dir and --resume checkpoint one fit in the recommender mode: not with --restarts or with "
        "several -k values (cross-validation)");
  if (x.block.storage != Storage::sparse)
    refuse("the recommender mode keeps the ratings sparse: drop --storage dense (or use --missing zero)");
}

}  // namespace

// The bias file of one side (recommend_run.hpp).
std::string bias_piece(MPI_Comm writers, const std::vector<double>& values, index_t count, const char* side,
                       double mean) {
  std::string piece;
  if (rank_in(writers) == 0) {
    char header[256];
    std::snprintf(header, sizeof header,
                  "%%%%MatrixMarket matrix array real general\n%% nmf_mpi %s biases; global mean %.17g\n%lld 1\n", side,
                  mean, static_cast<long long>(count));
    piece = header;
  }
  char line[40];
  for (double v : values) {
    std::snprintf(line, sizeof line, "%.17g\n", v);
    piece += line;
  }
  return piece;
}

namespace {

// Collective: what a checkpoint of this fit must share with the run that resumes it: plain NMF's keys (input,
// shape, k, algo and its options, seed) and the model's options and the test split (the test file's fingerprint,
// or the fraction; the seed is there already).
nlohmann::ordered_json recommender_identity(const Options& o, MPI_Comm comm, const DistMatrix& x) {
  nlohmann::ordered_json identity = fit_identity(o, comm, x, o.k, o.seed);
  identity["missing"] = "unobserved";
  identity["lambda"] = o.lambda;
  identity["lambda_bias"] = o.lambda_bias;
  identity["bias"] = o.bias;
  identity["clip"] = o.clip;
  identity["test_split"] = o.test_path.empty()
                               ? nlohmann::ordered_json{{"test_fraction", o.test_fraction}}
                               : nlohmann::ordered_json{{"test_file", input_fingerprint(comm, o.test_path)}};
  return identity;
}

// Collective: the hook of the fit (signals, --time-limit, checkpoints, --resume). Its grid records the blocks
// too: the residuals it keeps per rank are read back only by a run that cuts the ratings the same way.
std::unique_ptr<Checkpointer> recommender_hook(const Options& o, const ProcessGrid& grid, const DistMatrix& x,
                                               bool talk) {
  const CheckpointSettings settings = checkpoint_settings(o, talk);
  if (settings.dir.empty() && settings.resume_dir.empty())
    return std::make_unique<Checkpointer>(grid.comm(), settings, "recommender", nlohmann::ordered_json{},
                                          nlohmann::ordered_json{});
  nlohmann::ordered_json grid_json = checkpoint_grid(grid);
  for (const auto& [name, blocks] :
       {std::pair{"row_blocks", &x.layout.row_blocks}, {"col_blocks", &x.layout.col_blocks}}) {
    std::vector<index_t> offsets;
    for (int part = 0; part <= blocks->parts(); ++part)
      offsets.push_back(part < blocks->parts() ? blocks->begin(part) : blocks->total());
    grid_json[name] = offsets;
  }
  return std::make_unique<Checkpointer>(grid.comm(), settings, "recommender", recommender_identity(o, grid.comm(), x),
                                        grid_json);
}

void print_recommender_result(const Options& o, const RatingsResult& r) {
  const FactorizationResult& fit = r.fit;
  std::printf("stopped after %d iterations (%s): train RMSE %.6g", fit.iterations, fit.stop_reason.c_str(),
              r.rmse_train);
  if (r.test_ratings > 0)
    std::printf(", test RMSE %.6g, test MAE %.6g (%lld test ratings)", r.rmse_test, r.mae_test,
                static_cast<long long>(r.test_ratings));
  std::printf(", %.3f s (%.3g s per iteration)\n", fit.seconds,
              fit.iterations > 0 ? fit.seconds / fit.iterations : 0.0);
  if (r.cold_row_tests > 0 || r.cold_col_tests > 0)
    std::printf(
        "cold starts: %lld test ratings of rows and %lld of columns without training ratings "
        "(predicted from the mean and the known bias)\n",
        static_cast<long long>(r.cold_row_tests), static_cast<long long>(r.cold_col_tests));
  if ((r.unseen_row_tests > 0 || r.unseen_col_tests > 0))
    std::fprintf(stderr,
                 "nmf_mpi: warning: %s: %lld test ratings have a row id and %lld a column id that never occur in "
                 "the training ratings; they are predicted as cold starts\n",
                 o.test_path.c_str(), static_cast<long long>(r.unseen_row_tests),
                 static_cast<long long>(r.unseen_col_tests));
  std::fflush(stdout);
  std::fflush(stderr);
}

nlohmann::ordered_json recommender_json(const Options& o, const RatingsResult& r) {
  nlohmann::ordered_json j;
  j["missing"] = "unobserved";
  j["bias"] = o.bias == "on";
  j["lambda"] = o.lambda;
  j["lambda_bias"] = o.lambda_bias;
  j["clip"] = o.clip;
  j["mean"] = r.biases.mean;
  j["clip_low"] = std::isfinite(r.biases.low) ? nlohmann::ordered_json(r.biases.low) : nlohmann::ordered_json();
  j["clip_high"] = std::isfinite(r.biases.high) ? nlohmann::ordered_json(r.biases.high) : nlohmann::ordered_json();
  j["test"] = !o.test_path.empty() ? nlohmann::ordered_json(o.test_path) : nlohmann::ordered_json();
  j["test_fraction"] = o.test_fraction;
  j["train_ratings"] = r.train_ratings;
  j["test_ratings"] = r.test_ratings;
  j["cold_start_test_ratings"] = {{"rows", r.cold_row_tests},
                                  {"cols", r.cold_col_tests},
                                  {"unseen_row_ids", r.unseen_row_tests},
                                  {"unseen_col_ids", r.unseen_col_tests}};
  return j;
}

// --top-n: every user's best items among those without a training rating (held-out test ratings stay
// candidates, so that the lists can be scored against them), ranked by the model's prediction with the biases.
nlohmann::ordered_json write_recommender_top_n(const Options& o, OutputSet& outputs, const ProcessGrid& grid,
                                               const Layout& layout, const RatingsSplit& data,
                                               const RatingsResult& result, const IdMaps* ids) {
  const double start = MPI_Wtime();
  write_top_n(outputs, o.output + "_topn.csv", grid, layout, data.train.csr, result.fit.factors, &result.biases,
              o.top_n, ids);
  return {{"n", o.top_n}, {"seconds", MPI_Wtime() - start}, {"rated", "training ratings"}};
}

// The summary's rank_selection (with PREFIX_rank_selection.csv) and restart table, when k was chosen or restarts
// were run.
void add_selection_json(nlohmann::ordered_json& extra, OutputSet& outputs, const ProcessGrid& grid,
                        const std::string& prefix, const RatingsFinalFit& fit,
                        const std::optional<RankChoice>& choice) {
  if (choice) {
    outputs.add_text_file(grid.comm(), "rank_selection", prefix + "_rank_selection.csv",
                          ratings_rank_selection_csv(*choice));
    extra["rank_selection"] = ratings_rank_selection_json(*choice);
  }
  if (fit.runs.jobs.size() > 1) {
    extra["restarts"] = restart_table(fit.runs);
    extra["best_restart"] = fit.runs.best_index;
  }
}

// One fit of the loop: the job's k and seed on `data`. Signals and --time-limit stop it as they stop plain NMF's;
// with --checkpoint-dir or --resume (one fit only: check_recommender_options) it writes and resumes checkpoints.
RatingsResult fit_ratings(const Options& o, const ProcessGrid& grid, const DistMatrix& x, const Job& job,
                          RatingsSplit& data, IterationObserver* logger) {
  const std::unique_ptr<ObservedSolver> solver =
      make_observed_solver(o.algo, SolverParams{job.k, job.seed, o.solver_options});
  RatingsOptions options;
  options.k = job.k;
  options.lambda = o.lambda;
  options.lambda_bias = o.lambda_bias;
  options.bias = o.bias == "on";
  options.clip = o.clip == "auto";
  options.eval_every = o.eval_every;
  options.seed = job.seed;
  RatingsFactorization factorization(grid, x.layout, data, *solver, options);
  const bool talk = logger != nullptr && grid.rank() == 0 && !o.quiet;
  const std::unique_ptr<Checkpointer> hook = recommender_hook(o, grid, x, talk);
  RatingsResult result = factorization.run(stop_rules(o), logger, hook.get());
  result.fit.resumed_from = hook->resumed_from();
  result.fit.last_checkpoint = hook->last_checkpoint();
  result.fit.checkpoints_written = hook->checkpoints_written();
  result.fit.checkpoint_seconds = hook->checkpoint_seconds();
  return result;
}

// Collective over `world`: the winning subgroup writes the factors, biases, id maps and the summary, committed
// as a set; the whole job agrees on how it went.
void write_recommender_outputs(const Options& o, MPI_Comm world, const SubGroups& groups, const ProcessGrid& grid,
                               const DistMatrix& x, InputSource& source, double read_seconds, OutputSet* outputs,
                               double start, const RatingsSplit& data, const RatingsFinalFit& fit,
                               const std::optional<RankChoice>& choice) {
  const RatingsResult& result = fit.best;
  const OutputPaths& paths = outputs->paths();
  const std::string bias_rows_path = o.output + "_bias_rows.mtx", bias_cols_path = o.output + "_bias_cols.mtx";
  std::optional<LocalFailure> failure;
  try {
    if (fit.runs.winner) {
      outputs->write_factors(grid, x.layout, result.fit.factors);
      outputs->add_text_pieces(grid.comm(), "bias_rows", bias_rows_path,
                               bias_piece(grid.comm(), result.biases.rows, x.layout.n, "row", result.biases.mean));
      outputs->add_text_pieces(
          grid.s_order_comm(), "bias_cols", bias_cols_path,
          bias_piece(grid.s_order_comm(), result.biases.cols, x.layout.m, "column", result.biases.mean));
      if (const IdMaps* ids = source.id_maps()) {
        outputs->add_text_pieces(grid.comm(), "row_ids", o.output + "_rows.txt", ids->rows);
        outputs->add_text_pieces(grid.comm(), "col_ids", o.output + "_cols.txt", ids->cols);
      }
      nlohmann::ordered_json extra;
      if (o.top_n > 0)
        extra["top_n"] = write_recommender_top_n(o, *outputs, grid, x.layout, data, result, source.id_maps());
      extra["rmse_train"] = result.rmse_train;
      extra["mae_train"] = result.mae_train;
      extra["rmse_test"] = result.rmse_test;
      extra["mae_test"] = result.mae_test;
      extra["recommender"] = recommender_json(o, result);
      add_selection_json(extra, *outputs, grid, o.output, fit, choice);
      if (!o.checkpoint_dir.empty() || !o.resume.empty()) extra["checkpoint"] = checkpoint_summary(o, result.fit);
      extra["outputs"] = {{"A", paths.a}, {"S", paths.s}, {"bias_rows", bias_rows_path}, {"bias_cols", bias_cols_path}};
      extra["files"] = nlohmann::ordered_json::parse(outputs->files_json());
      const RunFacts facts{
          o,       source.description(), grid,         x,    result.fit, read_seconds, MPI_Wtime() - start, paths.a,
          paths.s, size_of(world),       groups.count, extra};
      outputs->commit(grid.comm(), build_summary(facts).dump(1) + "\n");
    }
  } catch (const CollectiveError&) {
    failure = describe_current_exception();
  }
  agree_on_failure(world, failure);
  if (fit.runs.winner && grid.rank() == 0 && !o.quiet)
    std::printf("wrote %s, %s, %s, %s and %s\n", paths.a.c_str(), paths.s.c_str(), bias_rows_path.c_str(),
                bias_cols_path.c_str(), paths.summary.c_str());
}

}  // namespace

void run_recommender(const Options& options, MPI_Comm world, const SubGroups& groups, const ProcessGrid& grid,
                     DistMatrix& x, InputSource& source, double read_seconds, OutputSet* outputs, double start) {
  Options o = options;  // -k becomes the chosen k
  const bool talk = rank_in(world) == 0 && !o.quiet;
  check_recommender_options(o, x);
  collectively(world, [&] { make_observed_solver(o.algo, SolverParams{o.k, o.seed, o.solver_options}); });
  if (!o.test_path.empty() && !source.id_maps())
    NMF_THROW_REPLICATED(ExitCode::usage, "--test " + o.test_path +
                                              ": a test file goes with a ratings input, whose ids it shares; for "
                                              "Matrix Market input use --test-fraction");
  RatingsSplit data = !o.test_path.empty()
                          ? ratings_with_test_set(x, source.read_test_ratings(grid, x.layout, o.test_path))
                          : split_ratings(x, grid, o.test_fraction, o.seed);
  // The reader's CSR and CSC (32 bytes per rating) are not needed any more: the fit has its own copy.
  x.block.csr = CompressedMatrix{};
  x.block.csc = CompressedMatrix{};

  ConsoleLogger logger(grid.rank() == 0 && !o.quiet, o.log_every);
  const RatingsFit fit = [&](const Job& job, RatingsSplit& fit_data, bool log) {
    return fit_ratings(o, grid, x, job, fit_data, log ? &logger : nullptr);
  };
  std::optional<RankChoice> choice;  // README, Recommending: choosing k on the training ratings
  if (cross_validating(o)) {
    choice = choose_ratings_rank(o, world, groups, grid, x.layout, data, fit, talk);
    o.k = choice->k;
  }
  const RatingsFinalFit final_fit = fit_ratings_with_restarts(o, world, groups, data, fit);
  if (talk && final_fit.runs.jobs.size() > 1) print_ratings_restarts(final_fit);
  if (final_fit.runs.winner && grid.rank() == 0 && !o.quiet) print_recommender_result(o, final_fit.best);
  if (outputs)
    write_recommender_outputs(o, world, groups, grid, x, source, read_seconds, outputs, start, data, final_fit, choice);
}

}  // namespace nmf::detail
