// The recommender mode's distributed CCD++ (nmf/driver/ratings_factorization.hpp with hals's ObservedSolver)
// against a serial reference written here with plain loops over a dense matrix and a mask: on every grid shape
// of the job's ranks (ctest runs 1, 2 and 4) the factors, the biases and the train and test RMSE agree with it
// to round-off. The data has a user and an item with no training ratings and test ratings whose ids never occur
// in training: their factors and biases are 0 and every prediction is finite.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "nmf/driver/checkpoint.hpp"
#include "nmf/driver/ratings_factorization.hpp"
#include "nmf/io/input.hpp"
#include "nmf/kernels/random.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

constexpr int kRank = 3, kIterations = 8;
constexpr double kLambda = 0.08, kLambdaBias = 5;

struct Line {
  std::string user, item;
  double rating;
};

// Training ratings of 9 users x 7 items (about half observed, ratings 1..5 in halves, one negative), with the
// user "cold" rated only in the test file, and test lines naming ids never seen in training.
std::vector<Line> training_lines() {
  std::mt19937 rng(11);
  std::vector<Line> lines;
  for (int u = 0; u < 9; ++u)
    for (int i = 0; i < 7; ++i)
      if ((u * 7 + i) % 2 == 0 || rng() % 3 == 0)
        lines.push_back({"u" + std::to_string(u), "i" + std::to_string(i), 0.5 * static_cast<double>(1 + rng() % 10)});
  lines.push_back({"u3", "i6", -1.5});
  return lines;
}
std::vector<Line> test_lines() {
  return {{"u1", "i1", 4},  {"u2", "i5", 2.5},  {"cold", "i0", 3},
          {"u4", "new", 1}, {"cold", "new", 5}, {"u8", "i3", 3.5}};
}

std::string as_text(const std::vector<Line>& lines) {
  std::string text = "user,item,rating\n";
  for (const Line& l : lines) text += l.user + "," + l.item + "," + std::to_string(l.rating) + "\n";
  return text;
}

struct Model {
  DenseMatrix a, s;  // n x k, k x m
  std::vector<double> b, c;
  double mu = 0, rmse_train = 0, rmse_test = 0;
};

// The same algorithm, serially: mu, biases once per iteration (rows then columns), then CCD++ feature by feature
// (S's coordinate, then A's), from A uniform keyed by (seed, row) and S = 0.
Model serial_ccd(const std::vector<Line>& train, const std::vector<Line>& test, std::uint64_t seed) {
  std::map<std::string, index_t> users, items;
  for (const Line& l : train) {
    users.try_emplace(l.user, static_cast<index_t>(users.size()));
    items.try_emplace(l.item, static_cast<index_t>(items.size()));
  }
  const index_t n = static_cast<index_t>(users.size()), m = static_cast<index_t>(items.size());
  DenseMatrix x(n, m), mask(n, m);
  for (const Line& l : train) {
    x(users[l.user], items[l.item]) = l.rating;
    mask(users[l.user], items[l.item]) = 1;
  }
  Model model;
  double sum = 0, count = 0, low = 1e300, high = -1e300;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < m; ++j)
      if (mask(i, j) != 0) {
        sum += x(i, j);
        ++count;
        low = std::min(low, x(i, j));
        high = std::max(high, x(i, j));
      }
  model.mu = sum / count;
  std::vector<double> rows(n, 0), cols(m, 0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < m; ++j) {
      rows[i] += mask(i, j);
      cols[j] += mask(i, j);
    }
  model.a = DenseMatrix(n, kRank);
  model.s = DenseMatrix(kRank, m);
  for (index_t i = 0; i < n; ++i)
    for (index_t f = 0; f < kRank; ++f)
      model.a(i, f) = uniform01(seed, RandomStream::factor_A, static_cast<std::uint64_t>(i * kRank + f)) /
                      std::sqrt(static_cast<double>(kRank));
  model.b.assign(n, 0);
  model.c.assign(m, 0);
  const auto prediction = [&](index_t i, index_t j) {
    double p = model.mu + model.b[i] + model.c[j];
    for (index_t f = 0; f < kRank; ++f) p += model.a(i, f) * model.s(f, j);
    return p;
  };
  for (int it = 0; it < kIterations; ++it) {
    for (index_t i = 0; i < n; ++i) {
      double r = 0;
      for (index_t j = 0; j < m; ++j)
        if (mask(i, j) != 0) r += x(i, j) - prediction(i, j) + model.b[i];
      model.b[i] = r / (kLambdaBias + rows[i]);
    }
    for (index_t j = 0; j < m; ++j) {
      double r = 0;
      for (index_t i = 0; i < n; ++i)
        if (mask(i, j) != 0) r += x(i, j) - prediction(i, j) + model.c[j];
      model.c[j] = r / (kLambdaBias + cols[j]);
    }
    for (index_t f = 0; f < kRank; ++f) {
      for (index_t j = 0; j < m; ++j) {
        double num = 0, den = 0;
        for (index_t i = 0; i < n; ++i)
          if (mask(i, j) != 0) {
            num += (x(i, j) - prediction(i, j) + model.a(i, f) * model.s(f, j)) * model.a(i, f);
            den += model.a(i, f) * model.a(i, f);
          }
        const double scale = kLambda * cols[j] + den;
        model.s(f, j) = scale > 0 ? std::max(0.0, num / scale) : 0.0;
      }
      for (index_t i = 0; i < n; ++i) {
        double num = 0, den = 0;
        for (index_t j = 0; j < m; ++j)
          if (mask(i, j) != 0) {
            num += (x(i, j) - prediction(i, j) + model.a(i, f) * model.s(f, j)) * model.s(f, j);
            den += model.s(f, j) * model.s(f, j);
          }
        const double scale = kLambda * rows[i] + den;
        model.a(i, f) = scale > 0 ? std::max(0.0, num / scale) : 0.0;
      }
    }
  }
  double squared = 0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < m; ++j)
      if (mask(i, j) != 0) {
        const double e = x(i, j) - std::clamp(prediction(i, j), low, high);
        squared += e * e;
      }
  model.rmse_train = std::sqrt(squared / count);
  squared = 0;
  for (const Line& l : test) {
    const auto u = users.find(l.user), i = items.find(l.item);
    double p = model.mu;
    if (u != users.end()) p += model.b[u->second];
    if (i != items.end()) p += model.c[i->second];
    if (u != users.end() && i != items.end())
      for (index_t f = 0; f < kRank; ++f) p += model.a(u->second, f) * model.s(f, i->second);
    const double e = l.rating - std::clamp(p, low, high);
    squared += e * e;
  }
  model.rmse_test = std::sqrt(squared / static_cast<double>(test.size()));
  return model;
}

// One side's biases (slices in the order of `comm`) gathered on every rank.
std::vector<double> gather_slices(MPI_Comm comm, const std::vector<double>& mine) {
  int ranks = 0;
  MPI_Comm_size(comm, &ranks);
  int count = static_cast<int>(mine.size());
  std::vector<int> counts(ranks), displs(ranks, 0);
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, comm);
  for (int r = 1; r < ranks; ++r) displs[r] = displs[r - 1] + counts[r - 1];
  std::vector<double> all(static_cast<std::size_t>(displs.back() + counts.back()));
  MPI_Allgatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, comm);
  return all;
}

// One recommender fit of training_lines() (test_lines() as the test set) with `algo` on `shape`.
struct Fit {
  Layout layout;
  RatingsResult result;
  DenseMatrix a, s;                  // gathered
  std::vector<double> b, c;          // gathered
  index_t pairs_a = 0, pairs_s = 0;  // the words model's T_A and T_S (see the ALS test)
  index_t stored = 0;                // ratings read (training and test)
};

// T_A: distinct (A slice, column) pairs among the block's ratings whose A slice belongs to another rank of the grid
// row; T_S: distinct (S slice, row) pairs whose S slice belongs to another rank of the grid column. Counted here
// from the global indices of the block's ratings with sets, summed over the ranks.
void count_touched_pairs(const ProcessGrid& grid, const Layout& layout, const ObservedBlock& train, Fit& fit) {
  const index_t row0 = layout.row_blocks.begin(grid.row()), col0 = layout.col_blocks.begin(grid.col());
  std::set<std::pair<int, index_t>> a_pairs, s_pairs;
  for (index_t i = 0; i < train.rows; ++i)
    for (index_t p = train.csr.ptr[i]; p < train.csr.ptr[i + 1]; ++p) {
      const index_t gi = row0 + i, gj = col0 + train.csr.index[p];
      const int a_slice = layout.a_slices.owner(gi), s_slice = layout.s_slices.owner(gj);
      if (a_slice != layout.a_slice_of(grid.row(), grid.col())) a_pairs.insert({a_slice, gj});
      if (s_slice != layout.s_slice_of(grid.row(), grid.col())) s_pairs.insert({s_slice, gi});
    }
  index_t counts[2] = {static_cast<index_t>(a_pairs.size()), static_cast<index_t>(s_pairs.size())};
  MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT64_T, MPI_SUM, grid.comm());
  fit.pairs_a = counts[0];
  fit.pairs_s = counts[1];
}

struct FitSettings {
  int iterations = kIterations;
  SolverOptionValues solver_options;
  double lambda = kLambda, lambda_bias = kLambdaBias;
  double held_out = 0;               // > 0: split_ratings(x, grid, held_out, 3) instead of dir's test.csv
  IterationEndHook* hook = nullptr;  // signals, checkpoints, --resume
};

Fit fit_ratings(const SharedTempDir& dir, const std::string& algo, GridShape shape, const FitSettings& settings = {},
                MPI_Comm comm = MPI_COMM_WORLD) {
  ReadOptions options;
  options.path = dir.file("train.csv");
  options.format = InputFormat::ratings;
  auto source = open_input(comm, options);
  const ProcessGrid grid(comm, shape);
  const DistMatrix x = source->distribute(grid);
  RatingsSplit data = settings.held_out > 0
                          ? split_ratings(x, grid, settings.held_out, 3)
                          : ratings_with_test_set(x, source->read_test_ratings(grid, x.layout, dir.file("test.csv")));
  Fit fit{x.layout, {}, {}, {}, {}, {}};
  fit.stored = x.stats.stored_entries;
  count_touched_pairs(grid, x.layout, data.train, fit);
  const auto solver = make_observed_solver(algo, SolverParams{kRank, 5, settings.solver_options});
  RatingsOptions ro;
  ro.k = kRank;
  ro.lambda = settings.lambda;
  ro.lambda_bias = settings.lambda_bias;
  ro.seed = 5;
  StopRules rules;
  rules.push_back(std::make_unique<MaxIterations>(settings.iterations));
  fit.result = RatingsFactorization(grid, x.layout, data, *solver, ro).run(rules, nullptr, settings.hook);
  gather_factors(grid, x.layout, fit.result.fit.factors, fit.a, fit.s);
  fit.b = gather_slices(grid.comm(), fit.result.biases.rows);
  fit.c = gather_slices(grid.s_order_comm(), fit.result.biases.cols);
  return fit;
}

// A hals fit gathered on every rank: A, S, the biases, the errors (for the checkpoint tests).
struct Fitted {
  DenseMatrix a, s;
  std::vector<double> b, c;
  double mu = 0, rmse_train = 0, rmse_test = 0;
  int iterations = 0;
};

Fitted fit_with_hook(const SharedTempDir& dir, GridShape shape, int iterations, IterationEndHook* hook) {
  FitSettings settings;
  settings.iterations = iterations;
  settings.hook = hook;
  Fit fit = fit_ratings(dir, "hals", shape, settings);
  Fitted f;
  f.a = std::move(fit.a);
  f.s = std::move(fit.s);
  f.b = std::move(fit.b);
  f.c = std::move(fit.c);
  f.mu = fit.result.biases.mean;
  f.rmse_train = fit.result.rmse_train;
  f.rmse_test = fit.result.rmse_test;
  f.iterations = fit.result.fit.iterations;
  return f;
}

TEST(RecommenderCcd, DistributedEqualsSerialOnEveryGrid) {
  SharedTempDir dir;
  const std::vector<Line> train = training_lines(), test = test_lines();
  write_text(dir.file("train.csv"), as_text(train));
  write_text(dir.file("test.csv"), as_text(test));
  const Model reference = serial_ccd(train, test, 5);
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const Fit fit = fit_ratings(dir, "hals", shape);
    const RatingsResult& result = fit.result;
    const DenseMatrix &a = fit.a, &s = fit.s;
    const std::vector<double>&b = fit.b, &c = fit.c;
    ASSERT_EQ(a.rows(), reference.a.rows());
    ASSERT_EQ(s.cols(), reference.s.cols());
    for (index_t i = 0; i < a.rows(); ++i)
      for (index_t f = 0; f < kRank; ++f) EXPECT_NEAR(a(i, f), reference.a(i, f), 1e-11) << i << "," << f;
    for (index_t j = 0; j < s.cols(); ++j)
      for (index_t f = 0; f < kRank; ++f) EXPECT_NEAR(s(f, j), reference.s(f, j), 1e-11) << f << "," << j;
    for (std::size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(b[i], reference.b[i], 1e-12);
    for (std::size_t j = 0; j < c.size(); ++j) EXPECT_NEAR(c[j], reference.c[j], 1e-12);
    EXPECT_NEAR(result.biases.mean, reference.mu, 1e-14);
    EXPECT_NEAR(result.rmse_train, reference.rmse_train, 1e-12);
    EXPECT_NEAR(result.rmse_test, reference.rmse_test, 1e-12);
    EXPECT_LT(result.rmse_train, result.fit.history.front().rmse_train);  // it learned something
    EXPECT_EQ(result.test_ratings, 6);
    EXPECT_EQ(result.unseen_row_tests, 2);  // "cold" is not in the training file
    EXPECT_EQ(result.unseen_col_tests, 2);  // nor is "new"
    EXPECT_TRUE(std::isfinite(result.rmse_test));
    EXPECT_EQ(result.fit.iterations, kIterations);
    // The words-moved model of the README: per feature 2 n_I doubles all-reduced over the grid row and 2 m_J over
    // the grid column, the biases n_I and m_J, the evaluation 10 numbers over all ranks; an all-reduce over p ranks
    // counted as 2 (p - 1) / p times its length per rank. Summed over the ranks (n_I is the same on the PC ranks of
    // a grid row, so the sum over ranks of n_I is PC n).
    const double n = static_cast<double>(fit.layout.n), m = static_cast<double>(fit.layout.m);
    const double pr = shape.rows, pc = shape.cols, p = shape.size();
    const double expected =
        8.0 * ((2 * kRank + 1) * 2 * (pc - 1) * n + (2 * kRank + 1) * 2 * (pr - 1) * m + 10 * 2 * (p - 1));
    EXPECT_NEAR(result.fit.comm_bytes_per_iteration, expected, 1e-6 * expected + 1e-9);
  }
}

// A training set in which every rating of one user and one item went to the test set (--test-fraction): their
// factors and biases stay exactly 0, their predictions are the mean plus the other side's bias.
TEST(RecommenderCcd, ColdStartsKeepZeroFactorsAndFinitePredictions) {
  SharedTempDir dir;
  std::vector<Line> lines = training_lines();
  write_text(dir.file("train.csv"), as_text(lines));
  for (const char* algo : {"hals", "als", "kaczmarz"})
    for (const GridShape shape : all_grid_shapes(world_size())) {
      SCOPED_TRACE(std::string(algo) + " on grid " + shape.str());
      // Half held out: some rows and columns lose every rating. No ridge either: 0 / 0 must still give 0.
      const Fit fit = fit_ratings(dir, algo, shape, FitSettings{5, {}, 0.0, 0.0, 0.5});
      const RatingsResult& result = fit.result;
      EXPECT_TRUE(std::isfinite(result.rmse_test));
      EXPECT_TRUE(std::isfinite(result.rmse_train));
      for (double v : result.fit.factors.a_t.values()) EXPECT_TRUE(std::isfinite(v) && v >= 0);
      for (double v : result.fit.factors.s.values()) EXPECT_TRUE(std::isfinite(v) && v >= 0);
      for (double v : result.biases.rows) EXPECT_TRUE(std::isfinite(v));
      for (double v : result.biases.cols) EXPECT_TRUE(std::isfinite(v));
      EXPECT_GT(result.test_ratings, 0);
      EXPECT_EQ(result.train_ratings + result.test_ratings, fit.stored);
    }
}

// --algo als: the words it moves per iteration are the model of the README (and of src/solvers/als.cpp), the
// factors do not depend on the grid beyond round-off (every grid of the job's ranks against the first; the serial
// SciPy reference on 1, 2 and 4 ranks is the CLI case e2e_recommender_als_scipy), and the objective decreases at every
// iteration (each half is an exact minimisation).
TEST(RecommenderAls, WordsMovedMatchTheModelAndGridsAgree) {
  SharedTempDir dir;
  write_text(dir.file("train.csv"), as_text(training_lines()));
  write_text(dir.file("test.csv"), as_text(test_lines()));
  const Fit serial = fit_ratings(dir, "als", all_grid_shapes(world_size()).front());
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const Fit fit = fit_ratings(dir, "als", shape);
    const std::vector<IterationRecord>& history = fit.result.fit.history;
    for (std::size_t t = 2; t < history.size(); ++t)
      EXPECT_LE(history[t].objective, history[t - 1].objective * (1 + 1e-12)) << "iteration " << t;
    ASSERT_EQ(fit.a.size(), serial.a.size());
    for (index_t t = 0; t < fit.a.size(); ++t) EXPECT_NEAR(fit.a.data()[t], serial.a.data()[t], 1e-10);
    for (index_t t = 0; t < fit.s.size(); ++t) EXPECT_NEAR(fit.s.data()[t], serial.s.data()[t], 1e-10);
    // Summed over the ranks, per iteration: the touched rows with their bias, (k + 1) (T_S + T_A); the gathers of
    // the solved slices, k ((PR - 1) m + (PC - 1) n); the biases' all-reduces, 2 (PC - 1) n + 2 (PR - 1) m; the
    // evaluation's 10 numbers over all ranks, 20 (P - 1).
    const double n = static_cast<double>(fit.layout.n), m = static_cast<double>(fit.layout.m);
    const double pr = shape.rows, pc = shape.cols, p = shape.size(), k = kRank;
    const double pairs = static_cast<double>(fit.pairs_a + fit.pairs_s);
    const double expected = 8.0 * ((k + 1) * pairs + k * ((pr - 1) * m + (pc - 1) * n) + 2 * (pc - 1) * n +
                                   2 * (pr - 1) * m + 20 * (p - 1));
    EXPECT_NEAR(fit.result.fit.comm_bytes_per_iteration, expected, 1e-9 * expected + 1e-9);
    if (shape.size() > 1) EXPECT_GT(pairs, 0);  // the case exchanges rows at all
  }
}

// --algo kaczmarz: the same run twice gives the same factors to the bit on every grid (the step order comes from
// keys drawn per rating by global index), and its steps learn: the training RMSE and the objective fall well below
// the initial ones.
TEST(RecommenderKaczmarz, ReproducibleAndLearns) {
  SharedTempDir dir;
  write_text(dir.file("train.csv"), as_text(training_lines()));
  write_text(dir.file("test.csv"), as_text(test_lines()));
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const Fit first = fit_ratings(dir, "kaczmarz", shape, FitSettings{20, {}});
    const Fit second = fit_ratings(dir, "kaczmarz", shape, FitSettings{20, {}});
    ASSERT_EQ(first.a.size(), second.a.size());
    for (index_t t = 0; t < first.a.size(); ++t) EXPECT_EQ(first.a.data()[t], second.a.data()[t]);
    for (index_t t = 0; t < first.s.size(); ++t) EXPECT_EQ(first.s.data()[t], second.s.data()[t]);
    EXPECT_EQ(first.result.rmse_test, second.result.rmse_test);
    const std::vector<IterationRecord>& history = first.result.fit.history;
    EXPECT_LT(history.back().rmse_train, 0.9 * history.front().rmse_train);
    EXPECT_LT(history.back().objective, history[1].objective);
    for (double v : first.a.values()) EXPECT_TRUE(v >= 0 && std::isfinite(v));
    for (double v : first.s.values()) EXPECT_TRUE(v >= 0 && std::isfinite(v));
    // --kaczmarz-strata is honoured: 4 x 4 virtual blocks instead of 8 x 8 give another step order.
    const Fit other = fit_ratings(dir, "kaczmarz", shape, FitSettings{20, {{"kaczmarz-strata", "4"}}});
    EXPECT_NE(other.result.rmse_train, first.result.rmse_train);
  }
}

// --algo kaczmarz steps through B x B virtual blocks in a fixed stratified schedule, so the fit does not depend on
// the number of ranks or the grid: every grid of the job's ranks (ctest runs 1, 2 and 4) gives the factors, the biases
// and the RMSEs of a fit on this rank alone (MPI_COMM_SELF) to round-off (the biases' sums are added in another order
// on another grid). The words moved per iteration are the model of the README and of src/solvers/kaczmarz.cpp.
TEST(RecommenderKaczmarz, EveryRankCountAndGridGivesTheOneRankFitAndTheWordsOfTheModel) {
  SharedTempDir dir;
  write_text(dir.file("train.csv"), as_text(training_lines()));
  write_text(dir.file("test.csv"), as_text(test_lines()));
  constexpr int kStrata = 4;
  const FitSettings settings{12, {{"kaczmarz-strata", std::to_string(kStrata)}}};
  const Fit alone = fit_ratings(dir, "kaczmarz", GridShape{1, 1}, settings, MPI_COMM_SELF);
  EXPECT_LT(alone.result.rmse_train, 0.8 * alone.result.fit.history.front().rmse_train);  // it learned something
  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    const Fit fit = fit_ratings(dir, "kaczmarz", shape, settings);
    ASSERT_EQ(fit.a.size(), alone.a.size());
    ASSERT_EQ(fit.s.size(), alone.s.size());
    for (index_t t = 0; t < fit.a.size(); ++t) EXPECT_NEAR(fit.a.data()[t], alone.a.data()[t], 1e-13);
    for (index_t t = 0; t < fit.s.size(); ++t) EXPECT_NEAR(fit.s.data()[t], alone.s.data()[t], 1e-13);
    for (std::size_t i = 0; i < fit.b.size(); ++i) EXPECT_NEAR(fit.b[i], alone.b[i], 1e-13);
    for (std::size_t j = 0; j < fit.c.size(); ++j) EXPECT_NEAR(fit.c[j], alone.c[j], 1e-13);
    EXPECT_NEAR(fit.result.rmse_train, alone.result.rmse_train, 1e-13);
    EXPECT_NEAR(fit.result.rmse_test, alone.result.rmse_test, 1e-13);
    // Summed over the ranks, per iteration: A's rows (with b_i) and S's columns (with c_j) from their layout slices
    // to their strata and back, (2k + 1)(n + m - L), L those on the same rank at both ends; the ring of column
    // strata, P (k + 1) m on more than one rank; the gathers of the slices k ((PR - 1) m + (PC - 1) n); the biases'
    // all-reduces and the evaluation as for als.
    const double n = static_cast<double>(fit.layout.n), m = static_cast<double>(fit.layout.m);
    const double pr = shape.rows, pc = shape.cols, p = shape.size(), k = kRank;
    const BlockPartition row_strata = BlockPartition::even(fit.layout.n, kStrata);
    const BlockPartition col_strata = BlockPartition::even(fit.layout.m, kStrata);
    const BlockPartition strata_of_rank = BlockPartition::even(kStrata, shape.size());
    double kept = 0;
    for (int r = 0; r < shape.size(); ++r) {
      const int a_slice = fit.layout.a_slice_of(r / shape.cols, r % shape.cols);
      const int s_slice = fit.layout.s_slice_of(r / shape.cols, r % shape.cols);
      const auto overlap = [](index_t b0, index_t e0, index_t b1, index_t e1) {
        return static_cast<double>(std::max<index_t>(0, std::min(e0, e1) - std::max(b0, b1)));
      };
      kept += overlap(fit.layout.a_slices.begin(a_slice), fit.layout.a_slices.end(a_slice),
                      row_strata.begin(strata_of_rank.begin(r)), row_strata.begin(strata_of_rank.end(r)));
      kept += overlap(fit.layout.s_slices.begin(s_slice), fit.layout.s_slices.end(s_slice),
                      col_strata.begin(strata_of_rank.begin(r)), col_strata.begin(strata_of_rank.end(r)));
    }
    const double ring = p > 1 ? p * (k + 1) * m : 0.0;
    const double expected = 8.0 * ((2 * k + 1) * (n + m - kept) + ring + k * ((pr - 1) * m + (pc - 1) * n) +
                                   2 * (pc - 1) * n + 2 * (pr - 1) * m + 20 * (p - 1));
    EXPECT_NEAR(fit.result.fit.comm_bytes_per_iteration, expected, 1e-9 * expected + 1e-9);
  }
  // Fewer strata than ranks, or --kaczmarz-steps: refused on every rank alike.
  if (world_size() > 1) {
    const GridShape shape = all_grid_shapes(world_size()).front();
    EXPECT_THROW(fit_ratings(dir, "kaczmarz", shape, FitSettings{2, {{"kaczmarz-strata", "1"}}}), CollectiveError);
  }
  EXPECT_THROW(fit_ratings(dir, "kaczmarz", GridShape{1, 1}, FitSettings{2, {{"kaczmarz-steps", "3"}}}, MPI_COMM_SELF),
               CollectiveError);
}

// --- checkpoints and resume ---------------------------------------------------------------------------------------

// The checkpointer of these tests: checkpoints in `dir` (none if empty), resume from `resume` (none if empty).
Checkpointer test_checkpointer(GridShape shape, const std::string& dir, const std::string& resume) {
  CheckpointSettings settings;
  settings.dir = dir;
  settings.resume_dir = resume;
  settings.keep = 5;
  return Checkpointer(MPI_COMM_WORLD, settings, "recommender", {{"test", "recommender"}},
                      {{"P", world_size()}, {"grid", shape.str()}});
}

void expect_same_fit(const Fitted& x, const Fitted& y, double rtol) {
  const auto expect_close = [rtol](const double* u, const double* v, std::size_t count, const char* what) {
    for (std::size_t t = 0; t < count; ++t) {
      if (rtol == 0)
        EXPECT_EQ(u[t], v[t]) << what << " " << t;
      else
        EXPECT_NEAR(u[t], v[t], rtol * std::max(1.0, std::abs(v[t]))) << what << " " << t;
    }
  };
  ASSERT_EQ(x.a.size(), y.a.size());
  ASSERT_EQ(x.s.size(), y.s.size());
  ASSERT_EQ(x.b.size(), y.b.size());
  ASSERT_EQ(x.c.size(), y.c.size());
  expect_close(x.a.data(), y.a.data(), x.a.size(), "A");
  expect_close(x.s.data(), y.s.data(), x.s.size(), "S");
  expect_close(x.b.data(), y.b.data(), x.b.size(), "b");
  expect_close(x.c.data(), y.c.data(), x.c.size(), "c");
  expect_close(&x.mu, &y.mu, 1, "mu");
  expect_close(&x.rmse_train, &y.rmse_train, 1, "train RMSE");
  expect_close(&x.rmse_test, &y.rmse_test, 1, "test RMSE");
  EXPECT_EQ(x.iterations, y.iterations);
}

// Stopped after 3 iterations with a checkpoint and resumed to kIterations: the same bits as kIterations in one go on
// the grid that wrote it (the residuals come back with the factors and biases); on every other grid of the job's
// ranks the checkpoint is redistributed (the residuals recomputed) and the fit agrees to round-off.
TEST(RecommenderCheckpoint, ResumesWithTheSameBitsOnItsGridAndRedistributedOnOthers) {
  SharedTempDir dir;
  write_text(dir.file("train.csv"), as_text(training_lines()));
  write_text(dir.file("test.csv"), as_text(test_lines()));
  const std::vector<GridShape> shapes = all_grid_shapes(world_size());
  const GridShape writer = shapes.front();
  {
    Checkpointer hook = test_checkpointer(writer, dir.file("ck"), "");
    EXPECT_EQ(fit_with_hook(dir, writer, 3, &hook).iterations, 3);
    EXPECT_EQ(hook.checkpoints_written(), 1);
  }
  for (const GridShape shape : shapes) {
    SCOPED_TRACE("resumed on grid " + shape.str() + ", written on " + writer.str());
    Checkpointer none = test_checkpointer(shape, "", "");
    const Fitted uninterrupted = fit_with_hook(dir, shape, kIterations, &none);
    Checkpointer resume = test_checkpointer(shape, "", dir.file("ck"));
    const Fitted resumed = fit_with_hook(dir, shape, kIterations, &resume);
    EXPECT_NE(resume.resumed_from().find("recommender-it000000003"), std::string::npos);
    expect_same_fit(resumed, uninterrupted, shape.str() == writer.str() ? 0.0 : 1e-12);
  }
}

}  // namespace
}  // namespace nmf::test
