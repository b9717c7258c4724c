// The recommender mode's driver: the loss covers the observed ratings only, with a global mean, row and
// column biases and non-negative factors,
//   sum over observed (i, j) of (x_ij - mu - b_i - c_j - a_i . s_j)^2
//     + lambda (sum_i n_i |a_i|^2 + sum_j m_j |s_j|^2) + lambda_bias (sum_i b_i^2 + sum_j c_j^2),
// A >= 0, S >= 0, n_i and m_j the training ratings of row i and column j (weighted lambda, ALS-WR).
//
// The gram-based loop of nmf/driver/factorization.hpp does not fit: it updates a whole factor from A^T A and
// A^T X, while coordinate descent on observed entries needs per-row and per-column sums for every feature.
// This loop keeps the same pieces (StopRules, IterationObserver, IterationRecord history) and the same
// distribution: rank (I, J) of the grid holds
//   - its block of training ratings (CSR, a CSC index and a CSC -> CSR position map) and one residual
//     r_ij = x_ij - prediction_ij per rating;
//   - A's row block I (n_I x k, feature-major) replicated over the grid row, S's column block J (m_J x k)
//     replicated over the grid column, and the biases of the block's rows and columns;
//   - its test ratings (block-local indices; -1 for an id never seen in training).
// The solver's update (ObservedSolver, in the solver's own file) makes its sums locally and asks the driver to
// reduce them over the grid row or column. The biases are updated once per outer iteration, before the
// factors: b_i = sum_j (r_ij + b_i) / (lambda_bias + n_i), reduced over the grid row (n_I doubles), and c_j
// likewise over the grid column (m_J doubles).
//
// Cold starts: a row or column without training ratings keeps zero factors and a zero bias (the updates guard
// 0/0), so its prediction is mu plus the other side's bias: the prediction of a new user is the item's mean.
//
// At the end the blocks are cut into the standard slice layout (nmf/factors.hpp, nmf/biases.hpp), so the
// outputs, top-N and fold-in read the result as they read plain NMF's.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "nmf/biases.hpp"
#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/driver/checkpoint.hpp"
#include "nmf/driver/factorization.hpp"
#include "nmf/kernels/observed.hpp"
#include "nmf/solvers/solver.hpp"

namespace nmf {

// This rank's ratings, split into training and test.
struct RatingsSplit {
  ObservedBlock train;
  std::vector<Triplet> test;  // block-local indices; -1: an id never seen in the training file
};

// Local: every stored entry of the block is a training rating, and `test` (from InputSource::read_test_ratings)
// the test ratings. The block must be sparse.
RatingsSplit ratings_with_test_set(const DistMatrix& x, std::vector<Triplet> test);

// Local: rating (i, j) (global indices) goes to the test set when uniform01(seed, test_set, i m + j) <
// fraction: a decision per rating, the same on any number of ranks and any grid.
RatingsSplit split_ratings(const DistMatrix& x, const ProcessGrid& grid, double fraction, std::uint64_t seed);

// Local: the ratings `all` (this rank's block of the layout) split by `held_out`, asked for each rating's key
// i m + j (global indices): true puts it in the test set, false in the training.
RatingsSplit split_ratings_by(const CompressedMatrix& all, const Layout& layout, const ProcessGrid& grid,
                              const std::function<bool(std::uint64_t)>& held_out);

struct RatingsOptions {
  int k = 1;
  double lambda = 0.08;      // weighted L2 on A and S
  double lambda_bias = 5.0;  // L2 on the biases
  bool bias = true;          // fit b and c (mu is always fitted: the training mean)
  bool clip = true;          // clip predictions to the training ratings' range
  int eval_every = 1;
  std::uint64_t seed = 1;  // the initial A
};

struct RatingsResult {
  FactorizationResult fit;  // the factors (slice layout), iterations, stop reason, history, timings, words moved
  Biases biases;            // mu, this rank's slices of b and c, the clipping range
  double rmse_train = 0, mae_train = 0;
  double rmse_test = IterationRecord::unknown, mae_test = IterationRecord::unknown;
  index_t train_ratings = 0, test_ratings = 0;
  // Test ratings predicted as cold starts: their row (column) had no training rating; of those, the ones whose
  // id never occurs in the training file at all (--test only).
  index_t cold_row_tests = 0, cold_col_tests = 0, unseen_row_tests = 0, unseen_col_tests = 0;
};

class RatingsFactorization {
 public:
  // grid, layout, data and solver must outlive this object. Collective calls happen in run() only.
  RatingsFactorization(const ProcessGrid& grid, const Layout& layout, RatingsSplit& data, ObservedSolver& solver,
                       RatingsOptions options);

  // Collective over grid.comm(): iterates from the initial factors (A random from the seed, keyed by global
  // row, S = 0, biases 0) until a stop rule fires; the observer sees every evaluated iteration.
  // `hook` (may be null): with --resume it restores the state of a checkpoint before the first iteration, and at
  // the end of every iteration it says whether a signal or the time limit stops the run and writes a checkpoint
  // when one is due (nmf/driver/checkpoint.hpp). A checkpoint holds A and S (as plain NMF's), the row and column
  // biases, the global mean, the residual per rating (read back on the same grid only, recomputed on another),
  // the iteration and the history.
  RatingsResult run(const StopRules& rules, IterationObserver* observer, IterationEndHook* hook = nullptr);

 private:
  const ProcessGrid& grid_;
  const Layout& layout_;
  RatingsSplit& data_;
  ObservedSolver& solver_;
  RatingsOptions options_;
};

}  // namespace nmf
