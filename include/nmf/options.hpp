// The parameters of one nmf_mpi run: one struct with its defaults, filled from the command line and an
// optional config file, validated once at the boundary (LIBMF-style).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nmf/types.hpp"

namespace nmf {

struct Options {
  // Input
  std::string input;            // empty: the built-in 12 x 10 example of the origin notebook
  std::string format = "auto";  // auto | mtx | npy
  bool transpose = false;
  std::string storage = "auto";  // auto | dense | sparse
  index_t read_chunk_mb = 0;     // 0: the format's default (ReadOptions::chunk_bytes)

  // Factorization
  int k = 0;                  // the rank fitted (the chosen one when several are swept)
  std::vector<int> k_values;  // -k/--rank: one value, a list "5,10,20" or a range "2:30[:step]"
  // hals: the best of the exact-update solvers on our measurements (README, "Which solver"); als is the
  // origin notebook's method.
  std::string algo = "hals";
  std::uint64_t seed = 1;
  // Initial factors (nmf/driver/initialization.hpp): random | nndsvd | nndsvda | nndsvdar; the SVD-based ones take
  // the leading k singular triplets from a randomized SVD with these (nmf/linalg/randomized_svd.hpp).
  std::string init = "random";
  int svd_oversample = 10;
  int svd_power = 2;
  // Every solver's own options (declared in src/solvers/<name>.cpp), by name, as text; validated.
  std::map<std::string, std::string> solver_options;
  // Penalties of the objective (driver/factorization.hpp)
  double l1_a = 0, l2_a = 0, l1_s = 0, l2_s = 0;

  // Stopping
  int max_iterations = 100;
  double tol = 1e-6;      // relative change of the objective
  double tol_pg = 0;      // projected gradient relative to the initial one; 0: off
  double time_limit = 0;  // seconds from the start of the run by which it ends, outputs written; 0: none
  int eval_every = 1;

  // Restarts and the choice of k
  int restarts = 1;
  int groups = 1;                  // subgroups of ranks that run restarts and folds concurrently
  int cv_folds = 0;                // 0: 3 when several ranks are swept, none otherwise
  double cv_fraction = 0.1;        // of the stored entries, held out per fold
  std::string rank_select = "se";  // se (one-standard-error rule) | min

  // Checkpoints and resume (driver/checkpoint.hpp)
  std::string checkpoint_dir;           // empty: none (the --resume directory, if given)
  int checkpoint_every = 0;             // iterations between checkpoints; 0: only when the run stops
  double checkpoint_every_seconds = 0;  // seconds between checkpoints; 0: not by time
  int checkpoint_keep = 1;              // complete checkpoints kept per restart
  std::string resume;                   // directory to resume from; empty: start afresh
  // The recommender mode (README, "Recommending"): the loss over the observed ratings only, with biases
  std::string missing = "auto";  // auto (unobserved for rating files, zero otherwise) | unobserved | zero
  std::string bias = "on";       // on | off: the row and column biases b_i, c_j
  // Weighted L2 on the factors (lambda n_i |a_i|^2, lambda m_j |s_j|^2, ALS-WR) and L2 on the biases: the
  // serial prototype's setting that met the targets on both data sets (k = 40).
  double lambda = 0.08;
  double lambda_bias = 5.0;
  std::string test_path;      // --test FILE: held-out ratings, same format, ids shared with the input
  double test_fraction = 0;   // --test-fraction F: hold out F of the ratings (seeded by --seed)
  std::string clip = "auto";  // auto (predictions clipped to the training ratings' range) | none

  // Parallel layout
  std::string grid = "auto";  // auto | PRxPC

  // Output
  std::string output;                 // prefix; empty: write nothing
  std::string output_format = "mtx";  // mtx | npy
  bool print = false;                 // print X and A*S (small matrices only); on for the built-in example
  int top_n = 0;                      // write PREFIX_topn.csv with the N best unrated columns of every row; 0: off

  // Fold-in (nmf/driver/fold_in.hpp): only A for the rows of the input, against a fixed S of an earlier fit
  std::string fixed_s;       // PREFIX_S.mtx or .npy of the fit; empty: factor as usual
  std::string fixed_s_cols;  // the fit's column id map (ratings input); empty: PREFIX_cols.txt beside the S file
  // The fit's column biases (recommender fold-in); empty: PREFIX_bias_cols.mtx beside the S file, if it exists
  std::string fixed_bias_cols;

  // Logging
  int log_every = 10;
  bool quiet = false;

  std::string command_line;  // as typed, for the summary
  double start_time = 0;     // MPI_Wtime() when the run started (set by run_factorization; --time-limit counts from it)
};

// What the command line asked for.
struct CommandLine {
  enum class Action { run, help, version, solver_table } action = Action::run;
  Options options;
  std::string help_text;
  // Everything the options were read from: the arguments after the program name and the --config file's
  // text. Every rank must have the same (src/cli/app.cpp checks), or ranks would write different prefixes
  // or wait in different collectives.
  std::string fingerprint;
};

// Parses argv (and --config FILE, whose keys are the long option names). Throws UsageError with a
// readable message for unknown options, bad values and invalid combinations. Local: every rank parses
// the same argv; the caller agrees on failures.
CommandLine parse_command_line(int argc, const char* const* argv);

// Checks the values that do not depend on the data. Throws UsageError.
void validate_options(const Options& options);

// Checks k against the matrix shape (1 <= k <= min(n, m)). Throws UsageError.
void validate_rank_for_shape(int k, index_t n, index_t m);

// Parses -k/--rank: "20", "5,10,20" or "2:30" / "2:30:2" (first:last[:step], last included). Throws UsageError.
std::vector<int> parse_rank_list(const std::string& text);

std::string version_string();

}  // namespace nmf
