#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "nmf/distribution/grid.hpp"
#include "nmf/distribution/layout.hpp"
#include "nmf/error.hpp"

namespace {

using nmf::BlockPartition;
using nmf::GridShape;
using nmf::index_t;
using nmf::Layout;

std::string usage_error(const std::string& text) {
  try {
    nmf::parse_grid_shape(text);
  } catch (const nmf::UsageError& e) {
    return e.what();
  }
  return "";
}

// ----- parse_grid_shape --------------------------------------------------------------------------------------

TEST(GridShape, ParsesLowerAndUpperCaseX) {
  const GridShape a = nmf::parse_grid_shape("4x2");
  EXPECT_EQ(a.rows, 4);
  EXPECT_EQ(a.cols, 2);
  const GridShape b = nmf::parse_grid_shape("4X2");
  EXPECT_EQ(b.rows, 4);
  EXPECT_EQ(b.cols, 2);
}

TEST(GridShape, ParsesWithSpaces) {
  const GridShape s = nmf::parse_grid_shape(" 3 x 1 ");
  EXPECT_EQ(s.rows, 3);
  EXPECT_EQ(s.cols, 1);
  EXPECT_EQ(s.size(), 3);
  EXPECT_EQ(s.str(), "3x1");
}

TEST(GridShape, RejectsMalformedText) {
  for (const char* text : {"4", "x2", "4x", "axb", "-1x2", "2x-1", "4x2x1", "", "4*2", "1.5x2"}) {
    const std::string message = usage_error(text);
    EXPECT_NE(message.find("bad --grid '" + std::string(text) + "'"), std::string::npos) << "'" << text << "'";
  }
}

TEST(GridShape, RejectsZeroDimensions) {
  EXPECT_NE(usage_error("0x4").find("at least 1"), std::string::npos);
  EXPECT_NE(usage_error("4x0").find("at least 1"), std::string::npos);
}

// ----- words_per_iteration -----------------------------------------------------------------------------------

TEST(GridCost, WordsPerIterationHandComputed) {
  // 2 x 3 grid, n = 100, m = 60, k = 4, P = 6. Per rank, with bandwidth-optimal collectives:
  //   A: all-gather + reduce-scatter of 50 x 4 among 3 ranks: 2 * (2/3) * 200 = 800/3
  //   S: the same for 4 x 20 among 2 ranks:                  2 * (1/2) * 80  = 80
  //   two all-reduces of 4 x 4 among 6 ranks:                2 * 2 * (5/6) * 16 = 160/3
  // total per rank 400, times 6 ranks.
  EXPECT_NEAR(nmf::words_per_iteration(GridShape{2, 3}, 100, 60, 4), 2400.0, 1e-9);
  // 4 x 1, n = 100, m = 60, k = 2: no A traffic; S: 2 * (3/4) * 120 = 180; Gram: 4 * (3/4) * 4 = 12.
  EXPECT_NEAR(nmf::words_per_iteration(GridShape{4, 1}, 100, 60, 2), 4 * 192.0, 1e-9);
}

TEST(GridCost, SingleRankMovesNothing) {
  EXPECT_EQ(nmf::words_per_iteration(GridShape{1, 1}, 1000, 500, 10), 0.0);
}

// ----- choose_grid_shape -------------------------------------------------------------------------------------

TEST(ChooseGrid, TallMatrixUsesRowLayout) {
  const GridShape s = nmf::choose_grid_shape(4, 100000, 10);
  EXPECT_EQ(s.rows, 4);
  EXPECT_EQ(s.cols, 1);
}

TEST(ChooseGrid, WideMatrixUsesColumnLayout) {
  const GridShape s = nmf::choose_grid_shape(4, 10, 100000);
  EXPECT_EQ(s.rows, 1);
  EXPECT_EQ(s.cols, 4);
}

TEST(ChooseGrid, SquareMatrixWithFourRanksIsTwoByTwo) {
  const GridShape s = nmf::choose_grid_shape(4, 1000, 1000);
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.cols, 2);
}

TEST(ChooseGrid, TiesGoToTheTallerGrid) {
  // On a square matrix 3x2 and 2x3 move the same words, as do 5x1 and 1x5.
  const GridShape six = nmf::choose_grid_shape(6, 1000, 1000);
  EXPECT_EQ(six.rows, 3);
  EXPECT_EQ(six.cols, 2);
  const GridShape five = nmf::choose_grid_shape(5, 1000, 1000);
  EXPECT_EQ(five.rows, 5);
  EXPECT_EQ(five.cols, 1);
}

TEST(ChooseGrid, SingleRank) {
  const GridShape s = nmf::choose_grid_shape(1, 1, 1);
  EXPECT_EQ(s.rows, 1);
  EXPECT_EQ(s.cols, 1);
}

TEST(ChooseGrid, RespectsRowAndColumnLimits) {
  // 4x1 would need 4 rows and 1x4 4 columns; only 2x2 fits a 3 x 3 matrix.
  const GridShape s = nmf::choose_grid_shape(4, 3, 3);
  EXPECT_EQ(s.rows, 2);
  EXPECT_EQ(s.cols, 2);
  const GridShape t = nmf::choose_grid_shape(4, 2, 5);
  EXPECT_LE(t.rows, 2);
  EXPECT_LE(t.cols, 5);
  EXPECT_EQ(t.size(), 4);
}

TEST(ChooseGrid, PicksTheCheapestFittingGrid) {
  const std::vector<std::pair<index_t, index_t>> shapes = {{7, 1000}, {1000, 7}, {50, 60}, {12, 12}, {3, 100}};
  for (int ranks = 1; ranks <= 12; ++ranks) {
    for (const auto& [n, m] : shapes) {
      // Brute force over every factorization that fits.
      double best = std::numeric_limits<double>::infinity();
      bool any = false;
      for (int pr = 1; pr <= ranks; ++pr) {
        if (ranks % pr != 0 || pr > n || ranks / pr > m) continue;
        any = true;
        best = std::min(best, nmf::words_per_iteration(GridShape{pr, ranks / pr}, n, m, 1));
      }
      if (!any) {
        EXPECT_THROW(nmf::choose_grid_shape(ranks, n, m), nmf::UsageError);
        continue;
      }
      const GridShape s = nmf::choose_grid_shape(ranks, n, m);
      EXPECT_EQ(s.size(), ranks);
      EXPECT_LE(s.rows, n);
      EXPECT_LE(s.cols, m);
      EXPECT_EQ(nmf::words_per_iteration(s, n, m, 1), best) << ranks << " ranks, " << n << " x " << m;
    }
  }
}

TEST(ChooseGrid, ThrowsWhenNoGridFits) {
  try {
    nmf::choose_grid_shape(4, 1, 3);
    FAIL() << "4 ranks cannot lay out a 1 x 3 matrix";
  } catch (const nmf::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("fewer ranks"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nmf::choose_grid_shape(2, 1, 1), nmf::UsageError);
}

// ----- validate_grid_shape -----------------------------------------------------------------------------------

TEST(ValidateGrid, AcceptsAFittingGrid) {
  EXPECT_NO_THROW(nmf::validate_grid_shape(GridShape{2, 3}, 6, 2, 3));
  EXPECT_NO_THROW(nmf::validate_grid_shape(GridShape{1, 1}, 1, 1, 1));
}

TEST(ValidateGrid, RankCountMismatch) {
  try {
    nmf::validate_grid_shape(GridShape{2, 2}, 3, 100, 100);
    FAIL();
  } catch (const nmf::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--grid 2x2 has 4 ranks"), std::string::npos) << e.what();
  }
}

TEST(ValidateGrid, MoreRowBlocksThanRows) {
  try {
    nmf::validate_grid_shape(GridShape{4, 1}, 4, 3, 100);
    FAIL();
  } catch (const nmf::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("row dimension"), std::string::npos) << e.what();
  }
}

TEST(ValidateGrid, MoreColumnBlocksThanColumns) {
  try {
    nmf::validate_grid_shape(GridShape{1, 4}, 4, 100, 3);
    FAIL();
  } catch (const nmf::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("column dimension"), std::string::npos) << e.what();
  }
}

TEST(ValidateGrid, HugeGridDoesNotWrapAround) {
  // 65536 x 65537 = 2^32 + 65536 ranks, which is 65536 modulo 2^32: it must be refused, not wrapped.
  EXPECT_THROW(nmf::parse_grid_shape("65536x65537"), nmf::UsageError);
  EXPECT_THROW(nmf::validate_grid_shape(GridShape{65536, 32768}, 65536, index_t{1} << 40, index_t{1} << 40),
               nmf::UsageError);
}

// ----- Layout ------------------------------------------------------------------------------------------------

Layout make_layout(index_t n, index_t m, GridShape shape) {
  return Layout(n, m, shape, BlockPartition::even(n, shape.rows), BlockPartition::even(m, shape.cols));
}

TEST(Layout, HandExampleSlices) {
  // Row blocks [0,5) [5,10) each split in 3; column blocks [0,2) [2,4) [4,7) each split in 2.
  const Layout layout = make_layout(10, 7, GridShape{2, 3});
  EXPECT_EQ(layout.a_slices.offsets(), (std::vector<index_t>{0, 1, 3, 5, 6, 8, 10}));
  EXPECT_EQ(layout.s_slices.offsets(), (std::vector<index_t>{0, 1, 2, 3, 4, 5, 7}));
}

TEST(Layout, SliceIndexOrder) {
  const Layout layout = make_layout(10, 7, GridShape{2, 3});
  EXPECT_EQ(layout.a_slice_of(0, 0), 0);
  EXPECT_EQ(layout.a_slice_of(0, 2), 2);
  EXPECT_EQ(layout.a_slice_of(1, 0), 3);
  EXPECT_EQ(layout.a_slice_of(1, 2), 5);
  EXPECT_EQ(layout.s_slice_of(0, 0), 0);
  EXPECT_EQ(layout.s_slice_of(1, 0), 1);
  EXPECT_EQ(layout.s_slice_of(0, 1), 2);
  EXPECT_EQ(layout.s_slice_of(1, 2), 5);
}

void expect_slices_nest(const Layout& layout) {
  const int pr = layout.shape.rows, pc = layout.shape.cols;
  ASSERT_EQ(layout.a_slices.parts(), pr * pc);
  ASSERT_EQ(layout.s_slices.parts(), pr * pc);
  EXPECT_EQ(layout.a_slices.total(), layout.n);
  EXPECT_EQ(layout.s_slices.total(), layout.m);
  for (int i = 0; i < pr; ++i) {
    // The slices of grid row i, in grid-column order, tile row block i.
    index_t next = layout.row_blocks.begin(i);
    for (int j = 0; j < pc; ++j) {
      const int a = layout.a_slice_of(i, j);
      EXPECT_EQ(layout.a_slices.begin(a), next);
      next = layout.a_slices.end(a);
      EXPECT_LE(next, layout.row_blocks.end(i));
    }
    EXPECT_EQ(next, layout.row_blocks.end(i));
  }
  for (int j = 0; j < pc; ++j) {
    index_t next = layout.col_blocks.begin(j);
    for (int i = 0; i < pr; ++i) {
      const int s = layout.s_slice_of(i, j);
      EXPECT_EQ(layout.s_slices.begin(s), next);
      next = layout.s_slices.end(s);
      EXPECT_LE(next, layout.col_blocks.end(j));
    }
    EXPECT_EQ(next, layout.col_blocks.end(j));
  }
}

TEST(Layout, SlicesNestInsideBlocks) {
  expect_slices_nest(make_layout(10, 7, GridShape{2, 3}));
  expect_slices_nest(make_layout(101, 37, GridShape{4, 3}));
  expect_slices_nest(make_layout(5, 5, GridShape{1, 1}));
  // Blocks of unequal size, as a balanced partition makes them, and blocks smaller than the grid.
  expect_slices_nest(Layout(10, 9, GridShape{2, 3}, BlockPartition({0, 8, 10}), BlockPartition({0, 1, 2, 9})));
  expect_slices_nest(make_layout(3, 40, GridShape{3, 4}));
}

TEST(Layout, SlicesAreEvenWithinABlock) {
  const Layout layout(20, 12, GridShape{2, 2}, BlockPartition({0, 15, 20}), BlockPartition({0, 3, 12}));
  // Row block 0 (15 rows) split between the 2 ranks of grid row 0: 7 and 8.
  EXPECT_EQ(layout.a_slices.size(layout.a_slice_of(0, 0)), 7);
  EXPECT_EQ(layout.a_slices.size(layout.a_slice_of(0, 1)), 8);
  // Column block 1 (9 columns) split between the 2 ranks of grid column 1: 4 and 5.
  EXPECT_EQ(layout.s_slices.size(layout.s_slice_of(0, 1)), 4);
  EXPECT_EQ(layout.s_slices.size(layout.s_slice_of(1, 1)), 5);
}

TEST(Layout, OwnerOfEntry) {
  const Layout layout(10, 9, GridShape{2, 3}, BlockPartition({0, 4, 10}), BlockPartition({0, 2, 2, 9}));
  for (index_t r = 0; r < 10; ++r) {
    for (index_t c = 0; c < 9; ++c) {
      const int grid_row = r < 4 ? 0 : 1;
      const int grid_col = c < 2 ? 0 : 2;  // column block 1 is empty
      EXPECT_EQ(layout.owner_of_entry(r, c), grid_row * 3 + grid_col) << r << ", " << c;
    }
  }
}

TEST(Layout, RejectsBlocksThatDoNotMatchTheGrid) {
  EXPECT_THROW(Layout(10, 7, GridShape{2, 3}, BlockPartition::even(10, 3), BlockPartition::even(7, 3)), nmf::Error);
  EXPECT_THROW(Layout(10, 7, GridShape{2, 3}, BlockPartition::even(9, 2), BlockPartition::even(7, 3)), nmf::Error);
  EXPECT_THROW(Layout(10, 7, GridShape{2, 3}, BlockPartition::even(10, 2), BlockPartition::even(7, 2)), nmf::Error);
}

}  // namespace
