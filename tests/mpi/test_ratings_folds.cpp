// The recommender mode's cross-validation folds (nmf/driver/ratings_folds.hpp): on every grid of the job's ranks
// (ctest runs 1, 2 and 4) each fold's held-out and kept ratings, summed over the ranks, equal a serial split of the
// whole matrix by global (i, j); the folds partition the training ratings and never touch the test set.
#include <gtest/gtest.h>

#include <array>

#include "nmf/driver/ratings_folds.hpp"
#include "nmf/io/input.hpp"
#include "nmf/kernels/random.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

constexpr std::uint64_t kSeed = 12;
constexpr double kTestFraction = 0.2;
constexpr int kFolds = 4;

// Count and two checksums of a set of ratings: the sum of the values, and of the values weighted by their global
// key + 1 (so a rating moved to another (i, j) changes it).
using Sums = std::array<double, 3>;

void add(Sums& sums, std::uint64_t key, double value) {
  sums[0] += 1;
  sums[1] += value;
  sums[2] += value * static_cast<double>(key + 1);
}

// Collective: the sums of this rank's ratings (block-local indices) over every rank.
Sums summed(const ProcessGrid& grid, const Layout& layout, const std::vector<Triplet>& ratings) {
  Sums sums{};
  const index_t row0 = layout.row_blocks.begin(grid.row()), col0 = layout.col_blocks.begin(grid.col());
  for (const Triplet& t : ratings)
    add(sums,
        static_cast<std::uint64_t>(row0 + t.row) * static_cast<std::uint64_t>(layout.m) +
            static_cast<std::uint64_t>(col0 + t.col),
        t.value);
  NMF_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums.data(), 3, MPI_DOUBLE, MPI_SUM, grid.comm()));
  return sums;
}

void expect_sums_equal(const Sums& ours, const Sums& reference, const std::string& what) {
  EXPECT_EQ(ours[0], reference[0]) << what << ": count";
  for (int s = 1; s < 3; ++s) EXPECT_NEAR(ours[s], reference[s], 1e-9 * std::abs(reference[s])) << what;
}

TEST(RatingsFolds, SameFoldsOnEveryGridAndAPartitionOfTheTrainingRatings) {
  SharedTempDir dir;
  const DenseMatrix reference = random_matrix(31, 23, 0.6, 5);
  write_mtx_coordinate(dir.file("x.mtx"), reference);
  // The serial split: test set first, then the fold of each remaining rating, from its global key.
  std::array<Sums, kFolds> fold_sums{};
  Sums test_sums{};
  for (index_t i = 0; i < reference.rows(); ++i)
    for (index_t j = 0; j < reference.cols(); ++j) {
      if (reference(i, j) == 0) continue;
      const auto key = static_cast<std::uint64_t>(i * reference.cols() + j);
      if (uniform01(kSeed, RandomStream::test_set, key) < kTestFraction)
        add(test_sums, key, reference(i, j));
      else
        add(fold_sums[static_cast<std::size_t>(ratings_fold_of(kSeed, key, kFolds))], key, reference(i, j));
    }
  for (const Sums& f : fold_sums) ASSERT_GT(f[0], 10) << "test bug: a fold with too few ratings";

  for (const GridShape shape : all_grid_shapes(world_size())) {
    SCOPED_TRACE("grid " + shape.str());
    ReadOptions options;
    options.path = dir.file("x.mtx");
    options.missing = MissingEntries::unobserved;
    options.storage = StorageChoice::sparse;
    auto source = open_input(MPI_COMM_WORLD, options);
    const ProcessGrid grid(MPI_COMM_WORLD, shape);
    const DistMatrix x = source->distribute(grid);
    const RatingsSplit data = split_ratings(x, grid, kTestFraction, kSeed);
    expect_sums_equal(summed(grid, x.layout, data.test), test_sums, "the test set");
    for (int fold = 0; fold < kFolds; ++fold) {
      const RatingsSplit split = ratings_fold_split(data.train, x.layout, grid, kFolds, fold, kSeed);
      EXPECT_EQ(split.train.entries() + static_cast<index_t>(split.test.size()), data.train.entries());
      expect_sums_equal(summed(grid, x.layout, split.test), fold_sums[static_cast<std::size_t>(fold)],
                        "fold " + std::to_string(fold));
      // The kept ratings are the other folds' (and their residuals start at the ratings).
      Sums others{};
      for (int f = 0; f < kFolds; ++f)
        if (f != fold)
          for (int s = 0; s < 3; ++s) others[s] += fold_sums[static_cast<std::size_t>(f)][s];
      std::vector<Triplet> kept;
      for (index_t i = 0; i < split.train.rows; ++i)
        for (index_t p = split.train.csr.ptr[i]; p < split.train.csr.ptr[i + 1]; ++p)
          kept.push_back({i, split.train.csr.index[p], split.train.csr.values[p]});
      expect_sums_equal(summed(grid, x.layout, kept), others, "the ratings kept for fold " + std::to_string(fold));
      EXPECT_EQ(split.train.residual, split.train.csr.values);
    }
  }
}

}  // namespace
}  // namespace nmf::test
