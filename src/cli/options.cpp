#include <algorithm>
#include <boost/program_options.hpp>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "nmf/distribution/grid.hpp"
#include "nmf/driver/initialization.hpp"
#include "nmf/error.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/output.hpp"
#include "nmf/options.hpp"
#include "nmf/solvers/solver.hpp"
#include "nmf/version.hpp"

namespace po = boost::program_options;

namespace {
// Help layout: wide enough that option descriptions read as sentences.
constexpr unsigned kHelpWidth = 110;
constexpr unsigned kHelpDescriptionWidth = 70;
}  // namespace

namespace nmf {

namespace {

std::string quote_if_needed(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\"'\\$") == std::string::npos) return arg;
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::uint64_t parse_seed(const std::string& text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    NMF_THROW(UsageError, "bad --seed '" + text + "': expected an integer from 0 to 18446744073709551615");
  return value;
}

// Every registered solver's own options, each stored by name into `values` (which starts with every default),
// so that --help and --config know them without a line here.
po::options_description solver_option_descriptions(std::map<std::string, std::string>& values) {
  po::options_description group("Solver options (each solver declares its own; see --algo)", kHelpWidth,
                                kHelpDescriptionWidth);
  values = default_solver_options();
  for (const SolverInfo& info : solver_catalog()) {
    for (const SolverOption& option : info.options) {
      std::string* value = &values[option.name];
      group.add_options()(option.name.c_str(),
                          po::value(value)->default_value(option.default_text)->value_name(option.value_name),
                          (info.name + ": " + option.help).c_str());
    }
  }
  return group;
}

std::string algo_help() {
  std::string text = "update rule:";
  for (const auto& info : solver_catalog()) text += "\n  " + info.name + ": " + info.summary;
  return text;
}

// Every option, grouped as --help shows them; values go into `o`, and the three that need parsing into `texts`.
struct OptionTexts {
  std::string seed, rank, config_path;
};

void describe_options(Options& o, OptionTexts& texts, po::options_description& all) {
  // One option per entry reads better than the formatter's layout of these chains.
  // clang-format off
  po::options_description input("Input", kHelpWidth, kHelpDescriptionWidth);
  input.add_options()
      ("input,i", po::value(&o.input)->value_name("FILE"),
       "matrix to factor: Matrix Market (.mtx: coordinate real|integer|pattern, general|symmetric; array real|integer "
       "general) or NumPy .npy (uint8, int32, int64, float32, float64; C or Fortran order). Omit it to factor the "
       "built-in 12 x 10 example")
      ("format", po::value(&o.format)->default_value(o.format)->value_name("auto|mtx|npy|ratings"),
       "input format; auto looks at the file's first bytes. ratings: one 'user item rating' line per rating "
       "(separated by tabs, '::', commas or spaces; an optional header line), ids remapped to rows and columns "
       "in order of first occurrence (PREFIX_rows.txt and PREFIX_cols.txt map them back)")
      ("transpose", po::bool_switch(&o.transpose), "factor X^T instead of X (no converted copy is made)")
      ("storage", po::value(&o.storage)->default_value(o.storage)->value_name("auto|dense|sparse"),
       "local storage of X; auto keeps .npy and array input dense, and coordinate input sparse below 30% density")
      ("read-chunk-mb", po::value(&o.read_chunk_mb)->default_value(o.read_chunk_mb, "auto")->value_name("MB"),
       "megabytes of the input each rank reads and parses at a time (bounds the read buffers); auto: 16 for Matrix "
       "Market and .npy, 4 for rating files")
      ("fixed-S", po::value(&o.fixed_s)->value_name("FILE"),
       "fold-in: compute only A for the rows of the input, by exact non-negative least squares against the fixed "
       "S of an earlier fit (its PREFIX_S.mtx or .npy; k is read from it), and write PREFIX_A, the row ids and "
       "the summary")
      ("fixed-S-cols", po::value(&o.fixed_s_cols)->value_name("FILE"),
       "fold-in of ratings input: the fit's column id map, whose ids the input's items are matched to (default: "
       "PREFIX_cols.txt beside a PREFIX_S file); items not in the fit are ignored with a warning")
      ("fixed-bias-cols", po::value(&o.fixed_bias_cols)->value_name("FILE"),
       "fold-in against a recommender fit: the fit's column biases and global mean (default: PREFIX_bias_cols.mtx "
       "beside a PREFIX_S file; when that exists, or with --missing unobserved, the fold-in solves A >= 0 and the "
       "row biases over each row's observed ratings)");

  po::options_description factorization(
      "Factorization: X (n x m) ~ A (n x k) S (k x m) with A, S >= 0, minimising\n"
      "  1/2 ||X - A S||_F^2 + l1_A sum(A) + l2_A/2 ||A||_F^2 + l1_S sum(S) + l2_S/2 ||S||_F^2",
      kHelpWidth, kHelpDescriptionWidth);
  factorization.add_options()
      ("rank,k", po::value(&texts.rank)->value_name("K"),
       "number of factors k, 1 <= k <= min(n, m); required with --input (the built-in example uses 3). A list "
       "5,10,20 or a range 2:30[:step] sweeps k and picks one by cross-validation (see --cv-folds)")
      ("algo", po::value(&o.algo)->default_value(o.algo)->value_name("NAME"), algo_help().c_str())
      ("seed", po::value(&texts.seed)->default_value(texts.seed)->value_name("S"),
       "seed of the random initial factors (and of kaczmarz's sampling); the same seed gives the same initial "
       "factors on any number of ranks")
      ("init", po::value(&o.init)->default_value(o.init)->value_name("random|nndsvd|nndsvda|nndsvdar"),
       "initial factors: random (from --seed), or NNDSVD (Boutsidis & Gallopoulos 2008) from a randomized SVD of X: "
       "nndsvd leaves its zeros at zero, nndsvda sets them to mean(X), nndsvdar to small random values from --seed. "
       "With --restarts, restarts after the first perturb the SVD start with nndsvdar's fill from their own seed")
      ("svd-oversample", po::value(&o.svd_oversample)->default_value(o.svd_oversample)->value_name("P"),
       "SVD-based --init: the randomized SVD sketches k + P directions")
      ("svd-power", po::value(&o.svd_power)->default_value(o.svd_power)->value_name("Q"),
       "SVD-based --init: power iterations of the randomized SVD (more: more accurate triplets, 2 passes over X each)")
      ("l1-A", po::value(&o.l1_a)->default_value(o.l1_a)->value_name("W"), "element-wise L1 penalty l1_A on A (sparser A)")
      ("l2-A", po::value(&o.l2_a)->default_value(o.l2_a)->value_name("W"), "Frobenius (L2) penalty l2_A on A")
      ("l1-S", po::value(&o.l1_s)->default_value(o.l1_s)->value_name("W"), "element-wise L1 penalty l1_S on S (sparser S)")
      ("l2-S", po::value(&o.l2_s)->default_value(o.l2_s)->value_name("W"), "Frobenius (L2) penalty l2_S on S");

  po::options_description solver_options = solver_option_descriptions(o.solver_options);

  po::options_description recommender(
      "Recommender mode (ratings: the loss over the observed entries only; see the README, Recommending)\n"
      "  sum over observed (x_ij - mu - b_i - c_j - a_i . s_j)^2 + lambda (sum_i n_i |a_i|^2 + sum_j m_j |s_j|^2)\n"
      "    + lambda_bias (sum_i b_i^2 + sum_j c_j^2),  A, S >= 0",
      kHelpWidth, kHelpDescriptionWidth);
  recommender.add_options()
      ("missing", po::value(&o.missing)->default_value(o.missing)->value_name("auto|unobserved|zero"),
       "what entries the file does not list are: unobserved (the recommender mode: the loss covers the listed "
       "ratings only, which may be negative) or zero (plain NMF); auto: unobserved for rating files, zero for "
       "Matrix Market and .npy")
      ("bias", po::value(&o.bias)->default_value(o.bias)->value_name("on|off"),
       "recommender mode: fit a bias per row and per column beside the global mean")
      ("lambda", po::value(&o.lambda)->default_value(o.lambda, "0.08")->value_name("L"),
       "recommender mode: L2 penalty on the factors, weighted by each row's and column's number of training "
       "ratings (ALS-WR)")
      ("lambda-bias", po::value(&o.lambda_bias)->default_value(o.lambda_bias, "5")->value_name("L"),
       "recommender mode: L2 penalty on the biases")
      ("test", po::value(&o.test_path)->value_name("FILE"),
       "recommender mode: held-out ratings in the same format, ids shared with the input; the log and the summary "
       "report the test RMSE and MAE (ids never seen in training are counted and predicted as cold starts)")
      ("test-fraction", po::value(&o.test_fraction)->default_value(o.test_fraction)->value_name("F"),
       "recommender mode: hold out a fraction F of the ratings as the test set, each rating decided by a "
       "counter-based draw keyed by --seed and its (row, column): the same split on any number of ranks")
      ("clip", po::value(&o.clip)->default_value(o.clip)->value_name("auto|none"),
       "recommender mode: clip predictions to the range of the training ratings (auto) or not (none)");

  po::options_description stopping("Stopping (the first rule that fires ends the run; the summary names it)",
                                   kHelpWidth, kHelpDescriptionWidth);
  stopping.add_options()
      ("iters", po::value(&o.max_iterations)->default_value(o.max_iterations)->value_name("N"),
       "maximum number of iterations (0 writes the initial factors)")
      ("tol", po::value(&o.tol)->default_value(o.tol, "1e-06")->value_name("T"),
       "stop when the objective changes by less than T relative to its previous evaluation (0: never)")
      ("tol-pg", po::value(&o.tol_pg)->default_value(o.tol_pg)->value_name("T"),
       "stop when the norm of the projected gradient falls below T times its initial value (Lin 2007; 0: off)")
      ("time-limit", po::value(&o.time_limit)->default_value(o.time_limit)->value_name("SECONDS"),
       "end the run within SECONDS of its start: the iterations stop when the next one and the writing (the "
       "checkpoint and the outputs) would not fit (0: no limit)")
      ("eval-every", po::value(&o.eval_every)->default_value(o.eval_every)->value_name("N"),
       "evaluate the objective (and --tol) every N iterations");

  po::options_description restarts("Restarts and the choice of k", kHelpWidth, kHelpDescriptionWidth);
  restarts.add_options()
      ("restarts", po::value(&o.restarts)->default_value(o.restarts)->value_name("R"),
       "factorizations from R different random starts (restart r's seed derives from --seed and r; restart 0 "
       "uses --seed itself); the one with the lowest objective is written")
      ("groups", po::value(&o.groups)->default_value(o.groups)->value_name("G"),
       "split the ranks into G equal subgroups that run restarts and folds concurrently, each with its own copy "
       "of X; G must divide the number of ranks")
      ("cv-folds", po::value(&o.cv_folds)->default_value(o.cv_folds)->value_name("F"),
       "cross-validation: fit every k F times, each time leaving out a random --cv-fraction of the stored entries, "
       "and measure the error on them; 0 means 3 when several k are given, none otherwise")
      ("cv-fraction", po::value(&o.cv_fraction)->default_value(o.cv_fraction, "0.1")->value_name("F"),
       "cross-validation: the fraction of X's stored entries each fold holds out")
      ("rank-select", po::value(&o.rank_select)->default_value(o.rank_select)->value_name("se|min"),
       "choice of k: se, the smallest k whose held-out error is within one standard error of the minimum; min, "
       "the minimum; the final model is then fitted on all of X");

  po::options_description checkpoints(
      "Checkpoints and resume (SIGTERM or SIGUSR1 ends the run after the current iteration with a checkpoint and "
      "the outputs, exit code 8)", kHelpWidth, kHelpDescriptionWidth);
  checkpoints.add_options()
      ("checkpoint-dir", po::value(&o.checkpoint_dir)->value_name("DIR"),
       "write checkpoints into DIR (created if missing): each rank its slices of A and S, a manifest with the "
       "iteration, the options and checksums; always one when the run stops")
      ("checkpoint-every", po::value(&o.checkpoint_every)->default_value(o.checkpoint_every)->value_name("N"),
       "also checkpoint every N iterations (0: only when the run stops)")
      ("checkpoint-every-seconds",
       po::value(&o.checkpoint_every_seconds)->default_value(o.checkpoint_every_seconds)->value_name("S"),
       "also checkpoint when S seconds have passed since the last one (0: not by time)")
      ("checkpoint-keep", po::value(&o.checkpoint_keep)->default_value(o.checkpoint_keep)->value_name("K"),
       "keep the K newest complete checkpoints of each restart (older ones are removed once a new one is complete)")
      ("resume", po::value(&o.resume)->value_name("DIR"),
       "continue from the newest checkpoint in DIR that verifies (a corrupted one is skipped for the previous "
       "one); refused if it is of another input, k, algorithm or options; starts afresh if DIR has none. "
       "New checkpoints go to --checkpoint-dir, by default DIR");

  po::options_description parallel("Parallel layout", kHelpWidth, kHelpDescriptionWidth);
  parallel.add_options()
      ("grid", po::value(&o.grid)->default_value(o.grid)->value_name("auto|PRxPC"),
       "process grid: PR row blocks x PC column blocks of X, PR * PC = number of ranks; auto picks the grid that "
       "moves the fewest words per iteration (PC = 1 is the 1-D row layout)");

  po::options_description output("Output", kHelpWidth, kHelpDescriptionWidth);
  output.add_options()
      ("output,o", po::value(&o.output)->value_name("PREFIX"),
       "write PREFIX_A.mtx (n x k), PREFIX_S.mtx (k x m) and PREFIX_summary.json")
      ("output-format", po::value(&o.output_format)->default_value(o.output_format)->value_name("mtx|npy"),
       "factor file format: Matrix Market array (17 significant digits) or NumPy .npy (float64)")
      ("print", po::bool_switch(&o.print), "print X and A*S (matrices up to 100 x 100; on for the built-in example)")
      ("top-n", po::value(&o.top_n)->default_value(o.top_n)->value_name("N"),
       "write PREFIX_topn.csv: for every row (user), the N columns (items) with the highest predicted score among "
       "those it has not rated (not stored in X; in the recommender mode: no training rating), best first; 0: "
       "off");

  po::options_description logging("Logging", kHelpWidth, kHelpDescriptionWidth);
  logging.add_options()
      ("log-every", po::value(&o.log_every)->default_value(o.log_every)->value_name("N"),
       "print the error every N iterations")
      ("quiet", po::bool_switch(&o.quiet), "print errors only");

  po::options_description general("General", kHelpWidth, kHelpDescriptionWidth);
  general.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("list-solvers", "print the table of solvers and their options (Markdown, as in the README) and exit")
      ("config", po::value(&texts.config_path)->value_name("FILE"),
       "read options from FILE: one 'long-option-name = value' per line, '#' comments; the command line wins");
  // clang-format on

  all.add(input)
      .add(factorization)
      .add(solver_options)
      .add(recommender)
      .add(stopping)
      .add(restarts)
      .add(checkpoints)
      .add(parallel)
      .add(output)
      .add(logging)
      .add(general);
}

// --help: the usage lines and every option.
std::string help_text(const po::options_description& all) {
  std::ostringstream help;
  help << "nmf_mpi " << version_string() << ": distributed non-negative matrix factorization\n\n"
       << "usage: mpirun -np P nmf_mpi -i FILE -k K -o PREFIX [options]\n"
       << "       mpirun -np P nmf_mpi            (the built-in example)\n"
       << all;
  return help.str();
}

}  // namespace

std::string version_string() {
  return NMF_VERSION;
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine cli;
  Options& o = cli.options;
  OptionTexts texts{std::to_string(o.seed), "", ""};
  po::options_description all(kHelpWidth, kHelpDescriptionWidth);
  describe_options(o, texts, all);
  cli.help_text = help_text(all);

  for (int a = 0; a < argc; ++a) o.command_line += (a ? " " : "") + quote_if_needed(argv[a]);
  for (int a = 1; a < argc; ++a) cli.fingerprint.append(argv[a]).push_back('\0');

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream file(path);
      if (!file) NMF_THROW(UsageError, "cannot open --config file '" + path + "'");
      const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      cli.fingerprint.append("--config text").push_back('\0');
      cli.fingerprint += text;
      std::istringstream config(text);
      po::store(po::parse_config_file(config, all), vm);
    }
    if (vm.count("help")) {
      cli.action = CommandLine::Action::help;
      return cli;
    }
    if (vm.count("version")) {
      cli.action = CommandLine::Action::version;
      return cli;
    }
    if (vm.count("list-solvers")) {
      cli.action = CommandLine::Action::solver_table;
      return cli;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    NMF_THROW(UsageError, std::string(e.what()) + " (see --help)");
  }
  o.seed = parse_seed(texts.seed);
  if (o.input.empty()) {
    if (!vm.count("rank")) texts.rank = "3";
    o.print = true;
  } else if (!vm.count("rank") && o.fixed_s.empty()) {
    NMF_THROW(UsageError, "-k/--rank is required with --input (see --help)");
  }
  if (!o.fixed_s.empty() && !vm.count("rank")) return cli;  // fold-in: k = 0 here, read from the S file
  o.k_values = parse_rank_list(texts.rank);
  if (o.checkpoint_dir.empty()) o.checkpoint_dir = o.resume;  // a resumed run checkpoints where it resumed from
  o.k = o.k_values.front();
  return cli;
}

void validate_options(const Options& o) {
  if (o.k < 1 && o.fixed_s.empty())  // with --fixed-S, k = 0 means "from the S file"
    NMF_THROW(UsageError, "bad -k/--rank " + std::to_string(o.k) + ": k must be at least 1");
  for (int k : o.k_values)
    if (k < 1) NMF_THROW(UsageError, "bad -k/--rank " + std::to_string(k) + ": k must be at least 1");
  if (o.restarts < 1) NMF_THROW(UsageError, "bad --restarts " + std::to_string(o.restarts) + ": must be >= 1");
  if (o.svd_oversample < 0)
    NMF_THROW(UsageError, "bad --svd-oversample " + std::to_string(o.svd_oversample) + ": must be >= 0");
  if (o.svd_power < 0) NMF_THROW(UsageError, "bad --svd-power " + std::to_string(o.svd_power) + ": must be >= 0");
  parse_init_method(o.init);
  if (o.groups < 1) NMF_THROW(UsageError, "bad --groups " + std::to_string(o.groups) + ": must be >= 1");
  if (o.cv_folds < 0) NMF_THROW(UsageError, "bad --cv-folds " + std::to_string(o.cv_folds) + ": must be >= 0");
  if (!(o.cv_fraction > 0.0 && o.cv_fraction < 1.0))
    NMF_THROW(UsageError, "bad --cv-fraction " + std::to_string(o.cv_fraction) + ": must be between 0 and 1");
  if (o.rank_select != "se" && o.rank_select != "min")
    NMF_THROW(UsageError, "bad --rank-select '" + o.rank_select + "': expected se or min");
  if (o.max_iterations < 0) NMF_THROW(UsageError, "bad --iters " + std::to_string(o.max_iterations) + ": must be >= 0");
  const std::pair<const char*, double> non_negative[] = {
      {"--tol", o.tol},   {"--tol-pg", o.tol_pg}, {"--time-limit", o.time_limit},
      {"--l1-A", o.l1_a}, {"--l2-A", o.l2_a},     {"--l1-S", o.l1_s},
      {"--l2-S", o.l2_s}};
  for (const auto& [name, value] : non_negative)
    if (!(value >= 0.0) || std::isinf(value))
      NMF_THROW(UsageError, std::string("bad ") + name + " " + std::to_string(value) + ": must be finite and >= 0");
  if (!(o.checkpoint_every_seconds >= 0.0) || std::isinf(o.checkpoint_every_seconds))
    NMF_THROW(UsageError, "bad --checkpoint-every-seconds " + std::to_string(o.checkpoint_every_seconds) +
                              ": must be finite and >= 0");
  if (o.checkpoint_every < 0)
    NMF_THROW(UsageError, "bad --checkpoint-every " + std::to_string(o.checkpoint_every) + ": must be >= 0");
  if (o.checkpoint_keep < 1)
    NMF_THROW(UsageError, "bad --checkpoint-keep " + std::to_string(o.checkpoint_keep) + ": must be >= 1");
  if (o.checkpoint_dir.empty() && o.resume.empty() && (o.checkpoint_every > 0 || o.checkpoint_every_seconds > 0))
    NMF_THROW(UsageError, "--checkpoint-every and --checkpoint-every-seconds need --checkpoint-dir");
  if (o.eval_every < 1) NMF_THROW(UsageError, "bad --eval-every " + std::to_string(o.eval_every) + ": must be >= 1");
  for (const SolverInfo& info : solver_catalog())
    for (const SolverOption& option : info.options) {
      const auto given = o.solver_options.find(option.name);  // a missing one takes its (valid) default
      if (given != o.solver_options.end()) validate_solver_option(option, given->second);
    }
  if (o.log_every < 1) NMF_THROW(UsageError, "bad --log-every " + std::to_string(o.log_every) + ": must be >= 1");
  if (o.read_chunk_mb < 0 || o.read_chunk_mb > 1024)  // 0 is the default: auto
    NMF_THROW(UsageError, "bad --read-chunk-mb " + std::to_string(o.read_chunk_mb) + ": must be 1..1024");
  // The I/O layer's parsers are the one place that knows these words.
  parse_input_format(o.format);
  parse_storage_choice(o.storage);
  parse_output_format(o.output_format);
  if (o.grid != "auto") parse_grid_shape(o.grid);
  parse_missing_entries(o.missing);
  if (o.bias != "on" && o.bias != "off") NMF_THROW(UsageError, "bad --bias '" + o.bias + "': expected on or off");
  if (o.clip != "auto" && o.clip != "none") NMF_THROW(UsageError, "bad --clip '" + o.clip + "': expected auto or none");
  for (const auto& [name, value] :
       {std::pair<const char*, double>{"--lambda", o.lambda}, {"--lambda-bias", o.lambda_bias}})
    if (!(value >= 0.0) || std::isinf(value))
      NMF_THROW(UsageError, std::string("bad ") + name + " " + std::to_string(value) + ": must be finite and >= 0");
  if (!(o.test_fraction >= 0.0 && o.test_fraction < 1.0))
    NMF_THROW(UsageError, "bad --test-fraction " + std::to_string(o.test_fraction) + ": must be in [0, 1)");
  if (!o.test_path.empty() && o.test_fraction > 0)
    NMF_THROW(UsageError, "--test and --test-fraction exclude each other: give one test set");
  if (o.top_n < 0) NMF_THROW(UsageError, "bad --top-n " + std::to_string(o.top_n) + ": must be >= 0");
  if (o.top_n > 0 && o.output.empty()) NMF_THROW(UsageError, "--top-n writes PREFIX_topn.csv: it needs -o PREFIX");
  if (!o.fixed_s_cols.empty() && o.fixed_s.empty()) NMF_THROW(UsageError, "--fixed-S-cols needs --fixed-S");
  if (!o.fixed_bias_cols.empty() && o.fixed_s.empty()) NMF_THROW(UsageError, "--fixed-bias-cols needs --fixed-S");
  if (!o.fixed_bias_cols.empty() && parse_missing_entries(o.missing) == MissingEntries::zero)
    NMF_THROW(UsageError,
              "--fixed-bias-cols folds in against a recommender fit; --missing zero folds in as plain NMF (drop one)");
  if (!o.fixed_s.empty()) {
    if (o.input.empty()) NMF_THROW(UsageError, "--fixed-S needs an --input whose rows to fold in");
    if (o.k_values.size() > 1 || o.restarts > 1 || o.groups > 1 || o.cv_folds > 0)
      NMF_THROW(UsageError, "--fixed-S computes A once: it takes no k sweep, --restarts, --groups or --cv-folds");
    if (o.top_n > 0) NMF_THROW(UsageError, "--top-n is not available with --fixed-S yet");
  }
  find_solver(o.algo);  // throws the message listing the known solvers
}

std::vector<int> parse_rank_list(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    NMF_THROW(UsageError, "bad -k/--rank '" + text + "': " + why + " (expected K, K1,K2,... or FIRST:LAST[:STEP])");
  };
  const auto number = [&](const std::string& field) {
    int value = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (field.empty() || ec != std::errc() || end != field.data() + field.size())
      bad("'" + field + "' is not an integer");
    if (value < 1) bad("k must be at least 1");
    return value;
  };
  std::vector<std::string> fields;
  const char separator = text.find(':') != std::string::npos ? ':' : ',';
  std::string field;
  std::istringstream in(text);
  while (std::getline(in, field, separator)) fields.push_back(field);
  if (fields.empty()) bad("no value");
  std::vector<int> ranks;
  if (separator == ',') {
    for (const auto& f : fields) ranks.push_back(number(f));
  } else {
    if (fields.size() < 2 || fields.size() > 3) bad("a range has two or three fields");
    const int first = number(fields[0]), last = number(fields[1]), step = fields.size() == 3 ? number(fields[2]) : 1;
    if (last < first) bad("the range ends before it starts");
    for (int k = first; k <= last; k += step) ranks.push_back(k);
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  return ranks;
}

void validate_rank_for_shape(int k, index_t n, index_t m) {
  if (k < 1) NMF_THROW(UsageError, "bad -k/--rank " + std::to_string(k) + ": k must be at least 1");
  const index_t limit = std::min(n, m);
  if (k > limit)
    NMF_THROW(UsageError, "bad -k/--rank " + std::to_string(k) +
                              ": k must be at most min(n, m) = " + std::to_string(limit) + " for this " +
                              std::to_string(n) + " x " + std::to_string(m) + " matrix");
}

}  // namespace nmf
