// Top-N lists (nmf/driver/top_n.hpp) on every grid, dense and sparse blocks, with and without biases, in chunks
// of one row and of many, and with the rated set given as a CSR (the recommender mode's training ratings): the
// same lists and the same CSV as a serial reference, with exact ties (integer factors, duplicate columns of S)
// broken by the lower column, clipped scores ranked by their unclipped values, a row that rated everything (no
// list) and one with fewer unrated columns than N (a short list).
#include <gtest/gtest.h>

#include <algorithm>

#include "nmf/driver/top_n.hpp"
#include "nmf/io/input.hpp"
#include "nmf/io/matrix_market.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

constexpr index_t kRows = 23, kCols = 17;
constexpr int kRank = 3, kTop = 5;

// Small integers, so every score is exact whatever the order of the sums, and ties are exact.
double a_value(index_t i, index_t c) {
  return static_cast<double>((i * 7 + c * 3) % 4);
}
double s_value(index_t c, index_t j) {
  return static_cast<double>(((j / 2) * 5 + c) % 3);
}  // columns 2t, 2t+1 equal
double row_bias(index_t i) {
  return static_cast<double>(i % 3) - 1.0;
}
double col_bias(index_t j) {
  return (static_cast<double>(j % 4) - 1.5) * 0.5;
}
constexpr double kMean = 3.0, kLow = 1.0, kHigh = 5.0;  // many predictions clip to 5: ties

DenseMatrix ratings_matrix() {
  DenseMatrix x = random_matrix(kRows, kCols, 0.3, 77, true);
  for (index_t j = 0; j < kCols; ++j) {
    x(0, j) = 1.0 + static_cast<double>(j);   // row 0 rated everything
    x(1, j) = j == 4 || j == 11 ? 0.0 : 2.0;  // row 1 left two: fewer than N
  }
  return x;
}

std::vector<Recommendation> reference_list(const DenseMatrix& x, index_t i, bool biases) {
  std::vector<Recommendation> all;
  for (index_t j = 0; j < kCols; ++j) {
    if (x(i, j) != 0.0) continue;
    double dot = 0;
    for (int c = 0; c < kRank; ++c) dot += a_value(i, c) * s_value(c, j);
    all.push_back({biases ? kMean + row_bias(i) + col_bias(j) + dot : dot, j});  // unclipped: the ranking key
  }
  // The order spelled out here, not taken from the library: higher (unclipped) score first, then the lower column.
  std::sort(all.begin(), all.end(), [](const Recommendation& a, const Recommendation& b) {
    return a.score != b.score ? a.score > b.score : a.col < b.col;
  });
  if (all.size() > static_cast<std::size_t>(kTop)) all.resize(kTop);
  if (biases)  // the score written is the clipped prediction
    for (Recommendation& r : all) r.score = std::clamp(r.score, kLow, kHigh);
  return all;
}

std::string id_of_row(index_t i) {
  return "user" + std::to_string(i);
}
std::string id_of_col(index_t j) {
  return "film," + std::to_string(j);
}  // a comma: quoted in the CSV

std::string reference_csv(const DenseMatrix& x, bool biases, bool ids) {
  std::string csv = "user,rank,item,score\n";
  for (index_t i = 0; i < kRows; ++i) {
    const std::vector<Recommendation> list = reference_list(x, i, biases);
    for (std::size_t q = 0; q < list.size(); ++q)
      csv += (ids ? id_of_row(i) : std::to_string(i + 1)) + "," + std::to_string(q + 1) + "," +
             (ids ? "\"" + id_of_col(list[q].col) + "\"" : std::to_string(list[q].col + 1)) + "," +
             mm::format_value(list[q].score) + "\n";
  }
  return csv;
}

Factors exact_factors(const ProcessGrid& grid, const Layout& layout) {
  Factors f;
  const int a_slice = layout.a_slice_of(grid.row(), grid.col()), s_slice = layout.s_slice_of(grid.row(), grid.col());
  f.a_t.resize(kRank, layout.a_slices.size(a_slice));
  f.s.resize(kRank, layout.s_slices.size(s_slice));
  for (index_t r = 0; r < f.a_t.cols(); ++r)
    for (int c = 0; c < kRank; ++c) f.a_t(c, r) = a_value(layout.a_slices.begin(a_slice) + r, c);
  for (index_t j = 0; j < f.s.cols(); ++j)
    for (int c = 0; c < kRank; ++c) f.s(c, j) = s_value(c, layout.s_slices.begin(s_slice) + j);
  return f;
}

Biases exact_biases(const ProcessGrid& grid, const Layout& layout) {
  Biases b;
  b.mean = kMean;
  b.low = kLow;
  b.high = kHigh;
  const int a_slice = layout.a_slice_of(grid.row(), grid.col()), s_slice = layout.s_slice_of(grid.row(), grid.col());
  for (index_t i = layout.a_slices.begin(a_slice); i < layout.a_slices.end(a_slice); ++i) b.rows.push_back(row_bias(i));
  for (index_t j = layout.s_slices.begin(s_slice); j < layout.s_slices.end(s_slice); ++j) b.cols.push_back(col_bias(j));
  return b;
}

// Id maps in pieces split unlike the factor slices (the first rank holds more), as a reader may leave them.
IdMaps uneven_id_maps() {
  IdMaps ids;
  const int p = world_size(), r = world_rank();
  const auto piece = [&](index_t total, auto id_of) {
    const index_t first = r == 0 ? 0 : total / 2 + (total - total / 2) * (r - 1) / std::max(1, p - 1);
    const index_t last = p == 1 ? total : r == 0 ? total / 2 : total / 2 + (total - total / 2) * r / (p - 1);
    std::string text;
    for (index_t i = first; i < last; ++i) text += id_of(i) + "\n";
    return text;
  };
  ids.rows = piece(kRows, id_of_row);
  ids.cols = piece(kCols, id_of_col);
  return ids;
}

std::string gather_text(MPI_Comm comm, const std::string& piece) {
  int length = static_cast<int>(piece.size());
  const int ranks = size_of(comm);
  std::vector<int> lengths(static_cast<std::size_t>(ranks)), displs(lengths.size(), 0);
  MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm);
  for (int r = 1; r < ranks; ++r) displs[r] = displs[r - 1] + lengths[r - 1];
  std::string all(static_cast<std::size_t>(displs.back() + lengths.back()), '\0');
  MPI_Allgatherv(piece.data(), length, MPI_CHAR, all.data(), lengths.data(), displs.data(), MPI_CHAR, comm);
  return all;
}

TEST(TopN, KeepBestBreaksTiesByColumnAndDropsPadding) {
  std::vector<Recommendation> c = {{2.0, 9}, {3.0, 4}, {2.0, 1}, {0.0, -1}, {3.0, 2}, {-1.0, 0}, {2.0, 5}};
  keep_best(c, 4);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].col, 2);
  EXPECT_EQ(c[1].col, 4);
  EXPECT_EQ(c[2].col, 1);
  EXPECT_EQ(c[3].col, 5);
  std::vector<Recommendation> few = {{1.0, -1}, {5.0, 3}};
  keep_best(few, 4);
  ASSERT_EQ(few.size(), 1u);  // what exists, no padding
  EXPECT_EQ(few[0].col, 3);
}

TEST(TopN, SameListsAndCsvAsSerialOnEveryGrid) {
  SharedTempDir dir;
  const DenseMatrix x = ratings_matrix();
  write_mtx_coordinate(dir.file("x.mtx"), x);
  const IdMaps ids = uneven_id_maps();
  for (const GridShape shape : all_grid_shapes(world_size())) {
    for (const bool sparse : {false, true}) {
      const ProcessGrid grid(MPI_COMM_WORLD, shape);
      std::unique_ptr<InputSource> source;
      if (sparse) {
        ReadOptions options;
        options.path = dir.file("x.mtx");
        options.storage = StorageChoice::sparse;
        source = open_input(MPI_COMM_WORLD, options);
      } else {
        source = dense_in_memory(x, "test", false);
      }
      const DistMatrix dist = source->distribute(grid);
      ASSERT_EQ(dist.block.storage, sparse ? Storage::sparse : Storage::dense);
      const Factors factors = exact_factors(grid, dist.layout);
      const Biases biases = exact_biases(grid, dist.layout);
      for (const bool with_biases : {false, true}) {
        for (const index_t score_bytes : {index_t{1}, kTopNScoreBytes}) {  // one row per chunk, and all at once
          SCOPED_TRACE("grid " + shape.str() + (sparse ? " sparse" : " dense") + (with_biases ? " biases" : "") +
                       " score bytes " + std::to_string(score_bytes));
          const TopNLists lists =
              top_n_lists(grid, dist.layout, dist.block, factors, with_biases ? &biases : nullptr, kTop, score_bytes);
          if (sparse) {  // the rated set as a bare CSR gives the same lists
            const TopNLists from_csr = top_n_lists(grid, dist.layout, dist.block.csr, factors,
                                                   with_biases ? &biases : nullptr, kTop, score_bytes);
            EXPECT_EQ(from_csr.offsets, lists.offsets);
            ASSERT_EQ(from_csr.entries.size(), lists.entries.size());
            for (std::size_t e = 0; e < lists.entries.size(); ++e) {
              EXPECT_EQ(from_csr.entries[e].col, lists.entries[e].col);
              EXPECT_EQ(from_csr.entries[e].score, lists.entries[e].score);
            }
          }
          const int slice = dist.layout.a_slice_of(grid.row(), grid.col());
          ASSERT_EQ(lists.first_row, dist.layout.a_slices.begin(slice));
          ASSERT_EQ(lists.rows(), dist.layout.a_slices.size(slice));
          for (index_t r = 0; r < lists.rows(); ++r) {
            const std::vector<Recommendation> expected = reference_list(x, lists.first_row + r, with_biases);
            ASSERT_EQ(lists.offsets[r + 1] - lists.offsets[r], static_cast<index_t>(expected.size())) << "row " << r;
            for (std::size_t q = 0; q < expected.size(); ++q) {
              const Recommendation& got = lists.entries[static_cast<std::size_t>(lists.offsets[r]) + q];
              EXPECT_EQ(got.col, expected[q].col) << "row " << lists.first_row + r << " rank " << q + 1;
              EXPECT_EQ(got.score, expected[q].score) << "row " << lists.first_row + r << " rank " << q + 1;
            }
          }
          EXPECT_EQ(gather_text(grid.comm(), top_n_csv_piece(grid, lists, nullptr)),
                    reference_csv(x, with_biases, false));
          EXPECT_EQ(gather_text(grid.comm(), top_n_csv_piece(grid, lists, &ids)), reference_csv(x, with_biases, true));
        }
      }
    }
  }
}

TEST(TopN, PremisesOfTheReference) {
  // The ties the test relies on exist: duplicate columns of S, and clipped scores.
  const DenseMatrix x = ratings_matrix();
  EXPECT_TRUE(reference_list(x, 0, false).empty());
  EXPECT_EQ(reference_list(x, 1, false).size(), 2u);
  // And clipped scores whose unclipped order is not the column order (ranking by the clipped score would differ).
  int ties = 0, clipped = 0, reordered = 0;
  for (index_t i = 2; i < kRows; ++i) {
    const auto plain = reference_list(x, i, false);
    for (std::size_t q = 1; q < plain.size(); ++q) ties += plain[q].score == plain[q - 1].score;
    const auto with_biases = reference_list(x, i, true);
    for (std::size_t q = 0; q < with_biases.size(); ++q) {
      clipped += with_biases[q].score == kHigh;
      reordered +=
          q > 0 && with_biases[q].score == with_biases[q - 1].score && with_biases[q].col < with_biases[q - 1].col;
    }
  }
  EXPECT_GT(ties, 10);
  EXPECT_GT(clipped, 10);
  EXPECT_GT(reordered, 0);
}

}  // namespace
}  // namespace nmf::test
