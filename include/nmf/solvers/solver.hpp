// The solver interface. The driver (nmf/driver/factorization.hpp) owns everything distributed: the gathers of
// factor slices, the Gram matrices, the products with X and their reduce-scatters, the loss. A solver only
// supplies the local update of one factor from what the driver hands it, and declares its own options.
// Adding a solver is one new file in src/solvers/ and one line in src/solvers/registry.cpp; --help, the
// config file, the summary and the README's solver table pick up its options from the declaration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nmf/kernels/observed.hpp"
#include "nmf/local_block.hpp"
#include "nmf/matrix.hpp"

namespace nmf {

enum class FactorSide { A, S };

// One option a solver declares. Its command-line name is `name` (--name), its key in the summary's object
// for the solver is `summary_key`; the value is validated once, when the command line is read.
struct SolverOption {
  enum class Kind { integer, real, choice };
  std::string name;
  std::string summary_key;
  Kind kind = Kind::integer;
  std::string default_text;
  std::string value_name;  // shown in --help: N, L, norm|uniform
  std::string help;
  // integer and real: the admitted range; an open end excludes the bound itself
  double lower = 0, upper = 0;
  bool lower_open = false, upper_open = false, has_upper = false;
  std::vector<std::string> choices;  // choice: the admitted values

  // An integer option admitting values >= lower.
  static SolverOption integer_at_least(std::string name, std::string summary_key, std::string default_text,
                                       std::string value_name, double lower, std::string help);
  // A real option admitting values strictly between lower and upper.
  static SolverOption real_between(std::string name, std::string summary_key, std::string default_text,
                                   std::string value_name, double lower, double upper, std::string help);
  // One of `choices`; value_name lists them.
  static SolverOption one_of(std::string name, std::string summary_key, std::vector<std::string> choices,
                             std::string help);
};

// Throws UsageError ("bad --NAME VALUE: ...") unless `text` is a valid value of `option`.
void validate_solver_option(const SolverOption& option, const std::string& text);

// The text of every solver option, keyed by name; the driver fills in each declared default that is missing.
using SolverOptionValues = std::map<std::string, std::string>;

struct SolverParams {
  int k = 0;
  std::uint64_t seed = 1;      // for solvers that draw random numbers (keyed by seed, rank and iteration)
  SolverOptionValues options;  // validated; missing ones take their declared defaults

  // Typed reads of a declared option (throws Error if `name` is not declared).
  std::int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  std::string choice(const std::string& name) const;
};

// What the driver hands a solver for one update.
//
// Solvers that update this rank's slice (UpdateScope::slice, all but Kaczmarz) read gram, cross and l1. For
// the S update: gram = A^T A + l2_S I, cross = A^T X for this rank's columns of S, l1 = l1_S. For the A
// update: gram = S S^T + l2_A I, cross = S X^T for this rank's rows of A (the factor slice, k x count, holds
// A^T's columns), l1 = l1_A. In both cases the update minimises, for every column f of the slice
// independently,
//   1/2 f^T gram f - (cross - l1)^T f      subject to f >= 0,
// which is the penalized objective of nmf_mpi restricted to one factor.
//
// Solvers that work on the equations (UpdateScope::gathered_block, Kaczmarz) read x and other_block and update
// their factor's gathered block: for the S update the equations are A's rows (other_block = A's row block,
// k x n_i) with right-hand sides X_ij's rows; for the A update they are S's columns (other_block = S's column
// block, k x m_j) with X_ij's columns. The driver then averages the block over the ranks that share it and
// keeps this rank's slice.
struct UpdateInputs {
  FactorSide side;
  const DenseMatrix& gram;   // k x k, replicated on every rank, L2 penalty included
  const DenseMatrix& cross;  // k x count, this rank's columns
  double l1;                 // element-wise L1 penalty of this factor
  int iteration;             // 1-based outer iteration
  // A loss that leaves entries of X out (cross-validation): when set, column j's subproblem has its own Gram
  // matrix, gram - reshape(gram_corrections(:, j)) (k*k x count, column-major k x k per column): the
  // contributions of the entries of X that the loss leaves out. `cross` already excludes them.
  const DenseMatrix* gram_corrections = nullptr;
  // The QR route (LocalSolver::solves_by_qr): the other factor F (A for the S update, S^T for the A update) is
  // F = Q R, r_factor is R (k x k upper triangular, replicated) and cross is Q^T X for this rank's columns of S (or
  // Q^T X^T for its rows of A), so the least-squares solution is R^-1 cross; gram is as above.
  const DenseMatrix* r_factor = nullptr;
  const LocalBlock* x = nullptr;             // gathered_block: X_ij
  const DenseMatrix* other_block = nullptr;  // gathered_block: the other factor's gathered block
  int rank = 0;                              // this rank in the grid: each rank samples its own stream
};

// The Gram matrix of column j of a masked update: inputs.gram minus the column's correction.
void masked_gram(const UpdateInputs& inputs, index_t j, DenseMatrix& out);

// cross - l1, the linear term of the subproblem.
DenseMatrix shifted_cross(const UpdateInputs& inputs);

// What a solver updates, and so what the driver computes for it.
enum class UpdateScope {
  slice,          // this rank's slice, from gram and cross (the driver forms A^T X and S X^T)
  gathered_block  // the gathered block, from X_ij and the other factor's block (no products needed)
};

class LocalSolver {
 public:
  virtual ~LocalSolver() = default;
  virtual std::string name() const = 0;
  virtual UpdateScope scope() const { return UpdateScope::slice; }
  // Replaces `factor` by its update: this rank's slice of S or of A^T (k x count) for UpdateScope::slice,
  // the gathered block for UpdateScope::gathered_block. Local: no MPI.
  virtual void update(const UpdateInputs& inputs, DenseMatrix& factor) = 0;
  // Diagonal ridges added to singular or ill-conditioned Gram matrices so far (reported in the log).
  virtual int ridges_added() const { return 0; }
  // Whether the driver should rescale A's columns and S's rows to equal norms after each iteration
  // (A S unchanged); solvers whose steps divide by a factor's column norms want it.
  virtual bool wants_balanced_scaling() const { return false; }
  // Whether the solver minimises the penalized objective (--l1-A and the others).
  virtual bool supports_penalties() const { return true; }
  // Whether the solver wants the QR route (UpdateInputs::r_factor) instead of the normal equations: the driver
  // then factors the other factor with ScaLAPACK and forms Q^T X with its distributed product (slice scope only).
  virtual bool solves_by_qr() const { return false; }
  // Whether the solver handles UpdateInputs::gram_corrections (losses that leave entries of X out, as
  // cross-validation does).
  virtual bool supports_masks() const { return false; }
};

// The recommender mode (nmf/driver/ratings_factorization.hpp): the loss covers the observed ratings only,
//   sum over observed (i, j) of (x_ij - mu - b_i - c_j - a_i . s_j)^2 + lambda_A sum_i n_i |a_i|^2
//     + lambda_S sum_j m_j |s_j|^2,
// with n_i, m_j the training ratings of row i and column j. The biases are the driver's; a solver updates A and S
// on the grid from what the driver hands it: the block's ratings with their residuals (which it keeps
// current), the gathered factor blocks (feature-major, see nmf/kernels/observed.hpp), the counts, the biases, and
// the driver's collectives. The collectives are callbacks so that the driver keeps every MPI call (and counts
// the words they move), while the solver decides when it needs one (CCD++ needs two sums per feature and side,
// ALS an exchange of factor rows and a gather per side, Kaczmarz one sum per side).
//
// The ranks sharing a factor block (the grid row for A's row block, the grid column for S's column block) each
// own a slice of it: rank `position` of the group owns block-local rows slice_offsets[position] ..
// slice_offsets[position + 1] - 1.
struct SharingGroup {
  int ranks = 1;
  int position = 0;
  std::vector<index_t> slice_offsets{0, 0};  // ranks + 1 offsets
};

// The factor slices a grid rank owns in the layout (nmf/distribution/layout.hpp): A's rows a_begin .. a_end - 1
// and S's columns s_begin .. s_end - 1 (global indices).
struct OwnedSlices {
  index_t a_begin = 0, a_end = 0, s_begin = 0, s_end = 0;
};

struct ObservedUpdate {
  ObservedBlock& ratings;                 // this rank's training ratings; residual = x - mu - b - c - a s
  DenseMatrix& a_rowblock;                // n_I x k: A's row block, the same on every rank of the grid row
  DenseMatrix& s_colblock;                // m_J x k: S's column block, the same on every rank of the grid column
  const std::vector<double>& row_counts;  // n_i for the block's rows (whole rows of X, all ranks)
  const std::vector<double>& col_counts;  // m_j for the block's columns
  double lambda_a = 0, lambda_s = 0;
  double mu = 0;                        // the global mean
  const std::vector<double>& row_bias;  // b_i of the block's rows (0 with --bias off)
  const std::vector<double>& col_bias;  // c_j of the block's columns
  const SharingGroup& a_group;          // the grid row, sharing A's row block
  const SharingGroup& s_group;          // the grid column, sharing S's column block
  // Global position of the block (for random streams keyed by global indices): its first row and column, and
  // the number of columns of X.
  index_t row0 = 0, col0 = 0, global_cols = 0;
  index_t global_rows = 0;
  int grid_rank = 0, grid_ranks = 1;             // this rank and the number of ranks of the grid
  const std::vector<OwnedSlices>& owned_slices;  // every grid rank's slices, by grid rank
  // Sums `values` in place over the ranks that share the factor block: the grid column for side S (values
  // indexed by the block's columns), the grid row for side A. Collective: every rank of the grid calls it the
  // same number of times with the same lengths.
  std::function<void(FactorSide side, std::vector<double>& values)> sum_over_sharing_ranks;
  // Within the group of `side`: sends send[sum of send_counts before d ..] (send_counts[d] values) to group rank
  // d and receives recv_counts[s] values from group rank s into `received`, in group order (resized to the
  // sum). Collective over the group.
  std::function<void(FactorSide side, const std::vector<double>& send, const std::vector<index_t>& send_counts,
                     std::vector<double>& received, const std::vector<index_t>& recv_counts)>
      exchange;
  // Within the group of `side`: every rank's piece of `values` (counts[s] values from group rank s, in group
  // order) is filled in on every rank; this rank's piece is already in place. Collective over the group.
  std::function<void(FactorSide side, std::vector<double>& values, const std::vector<index_t>& counts)> gather;
  // Over the whole grid (grid rank order): as `exchange`, with send_counts and recv_counts per grid rank.
  std::function<void(const std::vector<double>& send, const std::vector<index_t>& send_counts,
                     std::vector<double>& received, const std::vector<index_t>& recv_counts)>
      exchange_over_grid;
  // A ring over the grid: sends `send` to grid rank - 1 and receives `incoming` values from grid rank + 1 (both
  // modulo the number of ranks) into `received`. Collective over the grid.
  std::function<void(const std::vector<double>& send, std::vector<double>& received, index_t incoming)> shift_ring;
};

// Collective over the group of `side`: this rank's slice of the side's block (k x count; column g is block row
// slice_offsets[position] + g) and the other ranks' slices replace the whole block (a_rowblock or s_colblock) on
// every rank of the group. `buffer` is scratch space.
void share_slices(ObservedUpdate& update, FactorSide side, const DenseMatrix& slice, std::vector<double>& buffer);

class ObservedSolver {
 public:
  virtual ~ObservedSolver() = default;
  // Once, before the first iteration (collective like update): plans what the iterations exchange. The words
  // it moves are not counted in the iterations'.
  virtual void prepare(ObservedUpdate& /*update*/) {}
  // One outer iteration: updates A's and S's blocks (kept >= 0, and the same on the ranks sharing them) and the
  // residuals. A row or column without training ratings must end with zero factors (never NaN).
  virtual void update(ObservedUpdate& update, int iteration) = 0;
};

struct SolverInfo {
  std::string name;
  std::string summary;                // one line for --help
  std::vector<SolverOption> options;  // its own options, each --NAME
  std::unique_ptr<LocalSolver> (*make)(const SolverParams&) = nullptr;
  // The recommender mode's update (observed entries only), for solvers that have one; null otherwise.
  std::unique_ptr<ObservedSolver> (*make_observed)(const SolverParams&) = nullptr;
};

// The registered solvers, in registration order.
const std::vector<SolverInfo>& solver_catalog();

// The registered solver called `name`; throws UsageError naming the known solvers if there is none.
const SolverInfo& find_solver(const std::string& name);

// Every solver's declared defaults, keyed by option name.
SolverOptionValues default_solver_options();

// The solver `name` with `params` (missing options take their defaults). Throws UsageError for an unknown name.
std::unique_ptr<LocalSolver> make_solver(const std::string& name, const SolverParams& params);

// The recommender-mode update of solver `name`. Throws UsageError naming the solvers that have one if it has none.
std::unique_ptr<ObservedSolver> make_observed_solver(const std::string& name, const SolverParams& params);

// The README's table of solvers and their options (Markdown), made from the declarations.
std::string solver_table_markdown();

}  // namespace nmf
