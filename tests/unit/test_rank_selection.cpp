// Choosing k: the one-standard-error rule and the plain minimum, on scores written by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "nmf/driver/rank_selection.hpp"

namespace {

using nmf::RankScore;

RankScore score(int k, double heldout, double std, int folds = 4) {
  RankScore s;
  s.k = k;
  s.folds = folds;
  s.heldout_error = heldout;
  s.heldout_std = std;
  return s;
}

TEST(ScoreRank, MeanAndSampleStandardDeviation) {
  const RankScore s = nmf::score_rank(5, {0.2, 0.4}, {0.3, 0.5, 0.7});
  EXPECT_EQ(s.k, 5);
  EXPECT_EQ(s.folds, 3);
  EXPECT_DOUBLE_EQ(s.train_error, 0.3);
  EXPECT_NEAR(s.train_std, std::sqrt(0.02), 1e-15);  // (0.1^2 + 0.1^2) / (2 - 1)
  EXPECT_DOUBLE_EQ(s.heldout_error, 0.5);
  EXPECT_NEAR(s.heldout_std, 0.2, 1e-15);  // (0.04 + 0 + 0.04) / 2
  EXPECT_EQ(nmf::score_rank(2, {0.1}, {0.2}).heldout_std, 0.0);
}

TEST(ChooseRank, OneStandardErrorRulePrefersTheSmallestCloseEnoughK) {
  // Minimum at k = 8 (0.100, std 0.02 over 4 folds: standard error 0.01). k = 6 (0.108) is within it, k = 4
  // (0.111) is not: the rule picks 6, the plain minimum 8.
  const std::vector<RankScore> scores = {score(2, 0.300, 0.01), score(4, 0.111, 0.01), score(6, 0.108, 0.01),
                                         score(8, 0.100, 0.02), score(10, 0.101, 0.01)};
  EXPECT_EQ(nmf::choose_rank(scores, "se"), 6);
  EXPECT_EQ(nmf::choose_rank(scores, "min"), 8);
}

TEST(ChooseRank, ZeroSpreadMakesTheRuleTheMinimum) {
  const std::vector<RankScore> scores = {score(3, 0.2, 0.0, 1), score(4, 0.15, 0.0, 1), score(5, 0.151, 0.0, 1)};
  EXPECT_EQ(nmf::choose_rank(scores, "se"), 4);
}

TEST(ChooseRank, ScoresWithoutFoldsAreIgnoredAndNoneMeansZero) {
  const std::vector<RankScore> scores = {score(2, 0.0, 0.0, 0), score(3, 0.5, 0.0), score(4, 0.4, 0.0)};
  EXPECT_EQ(nmf::choose_rank(scores, "se"), 4);  // k = 2's 0.0 has no folds behind it
  EXPECT_EQ(nmf::choose_rank({score(2, 0.1, 0.0, 0)}, "se"), 0);
}

}  // namespace
