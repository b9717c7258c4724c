// The line parsers of rating files: separators, header detection, and each bad line's message.
#include <gtest/gtest.h>

#include "nmf/io/ratings.hpp"

namespace nmf::ratings {
namespace {

std::string problem_of(std::string_view line, Separator separator, std::string_view header = "") {
  try {
    parse_line(line, separator, header);
  } catch (const mm::LineProblem& problem) {
    return problem.what();
  }
  return "";
}

TEST(Ratings, DetectsEachSeparator) {
  EXPECT_EQ(detect_separator("196\t242\t3\t881250949"), Separator::tab);          // u.data
  EXPECT_EQ(detect_separator("1::1193::5::978300760"), Separator::double_colon);  // ratings.dat
  EXPECT_EQ(detect_separator("1,1,4.0,964982703"), Separator::comma);             // ratings.csv
  EXPECT_EQ(detect_separator("1050 25 2.5"), Separator::whitespace);              // FilmTrust
}

TEST(Ratings, ParsesEachFormat) {
  const Rating tab = parse_line("196\t242\t3\t881250949", Separator::tab, "");
  EXPECT_EQ(tab.user, "196");
  EXPECT_EQ(tab.item, "242");
  EXPECT_EQ(tab.value, 3.0);
  const Rating dat = parse_line("1::1193::5::978300760", Separator::double_colon, "");
  EXPECT_EQ(dat.item, "1193");
  EXPECT_EQ(dat.value, 5.0);
  const Rating csv = parse_line("alice, The Matrix ,4.5", Separator::comma, "");
  EXPECT_EQ(csv.user, "alice");
  EXPECT_EQ(csv.item, "The Matrix");  // comma fields are trimmed, inner spaces kept
  EXPECT_EQ(csv.value, 4.5);
  const Rating spaces = parse_line("  1050   25 \t 2.5  ", Separator::whitespace, "");
  EXPECT_EQ(spaces.user, "1050");
  EXPECT_EQ(spaces.item, "25");
  EXPECT_EQ(spaces.value, 2.5);
}

TEST(Ratings, DetectsAHeaderOnlyWhenTheRatingIsNotANumber) {
  const Dialect csv = detect_dialect("userId,movieId,rating,timestamp", "1,1,4.0,964982703");
  EXPECT_TRUE(csv.has_header);
  EXPECT_EQ(csv.separator, Separator::comma);
  const Dialect plain = detect_dialect("1050 25 2.5", "1050 26 3");
  EXPECT_FALSE(plain.has_header);
  EXPECT_EQ(plain.separator, Separator::whitespace);
  // The separator comes from the first data line: here the header uses spaces, the data tabs.
  EXPECT_EQ(detect_dialect("user item rating", "1\t2\t3").separator, Separator::tab);
  EXPECT_THROW(detect_dialect("1 2", "1 2 3"), mm::LineProblem);
}

TEST(Ratings, NamesEachProblem) {
  EXPECT_NE(problem_of("1 2", Separator::whitespace).find("expected 3 or more fields"), std::string::npos);
  EXPECT_NE(problem_of("1,2", Separator::comma).find("found 2"), std::string::npos);
  EXPECT_NE(problem_of("1 2 x3", Separator::whitespace).find("rating 'x3' is not a number"), std::string::npos);
  EXPECT_NE(problem_of("1 2 nan", Separator::whitespace).find("not finite"), std::string::npos);
  EXPECT_NE(problem_of("1 2 1e400", Separator::whitespace).find("not finite"), std::string::npos);
  EXPECT_NE(problem_of("1 2 1e200", Separator::whitespace).find("square overflows"), std::string::npos);
  EXPECT_NE(problem_of(",2,3", Separator::comma).find("empty user id"), std::string::npos);
  const std::string negative = problem_of("1 2 -1.5", Separator::whitespace);
  EXPECT_NE(negative.find("negative rating -1.5"), std::string::npos);
  EXPECT_NE(negative.find("X >= 0"), std::string::npos);
  EXPECT_NE(negative.find("recommender mode"), std::string::npos);
  // The recommender mode takes them (its biases absorb any offset).
  EXPECT_EQ(nmf::ratings::parse_line("1 2 -1.5", Separator::whitespace, "", true).value, -1.5);
  const std::string header = "userId,movieId,rating,timestamp";
  EXPECT_NE(problem_of(header, Separator::comma, header).find("header line in the middle"), std::string::npos);
  EXPECT_NE(problem_of("user item rating", Separator::whitespace).find("header line in the middle"), std::string::npos);
  EXPECT_EQ(problem_of("1 2 0", Separator::whitespace), "");
}

TEST(Ratings, BlankLines) {
  EXPECT_TRUE(is_blank(""));
  EXPECT_TRUE(is_blank(" \t "));
  EXPECT_FALSE(is_blank(" 1 2 3"));
}

}  // namespace
}  // namespace nmf::ratings
