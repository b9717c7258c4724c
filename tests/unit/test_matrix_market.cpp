#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include "nmf/error.hpp"
#include "nmf/io/matrix_market.hpp"

namespace {

using nmf::index_t;
using nmf::mm::Field;
using nmf::mm::Format;
using nmf::mm::Header;
using nmf::mm::LineProblem;
using nmf::mm::Symmetry;

const char kPath[] = "m.mtx";

Header parse(const std::string& text) {
  std::istringstream in(text);
  return nmf::mm::parse_header(in, kPath);
}

// The what() of the InputError parse_header throws, or "" if it throws nothing.
std::string header_error(const std::string& text) {
  try {
    parse(text);
  } catch (const nmf::InputError& e) {
    return e.what();
  }
  return "";
}

// Asserts that parsing `text` fails with "m.mtx:<line>: ..." and returns the problem after that prefix.
::testing::AssertionResult fails_at_line(const std::string& text, int line, const std::string& expected_fragment) {
  const std::string message = header_error(text);
  const std::string prefix = std::string(kPath) + ":" + std::to_string(line) + ": ";
  if (message.empty()) return ::testing::AssertionFailure() << "no InputError for:\n" << text;
  if (message.rfind(prefix, 0) != 0)
    return ::testing::AssertionFailure() << "message '" << message << "' does not start with '" << prefix << "'";
  if (message.find(expected_fragment) == std::string::npos)
    return ::testing::AssertionFailure() << "message '" << message << "' lacks '" << expected_fragment << "'";
  return ::testing::AssertionSuccess();
}

Header header_of(Format format, Field field, index_t rows, index_t cols) {
  Header h;
  h.format = format;
  h.field = field;
  h.rows = rows;
  h.cols = cols;
  h.entries = format == Format::array ? rows * cols : 1;
  return h;
}

std::string line_problem(std::string_view line, const Header& h) {
  try {
    if (h.format == Format::coordinate)
      nmf::mm::parse_coordinate_line(line, h);
    else
      nmf::mm::parse_array_line(line, h);
  } catch (const LineProblem& e) {
    return e.what();
  }
  return "";
}

// ----- parse_header: accepted banners ------------------------------------------------------------------------

TEST(MatrixMarketHeader, CoordinateRealGeneral) {
  const std::string text = "%%MatrixMarket matrix coordinate real general\n3 4 5\n1 1 1.0\n";
  const Header h = parse(text);
  EXPECT_EQ(h.format, Format::coordinate);
  EXPECT_EQ(h.field, Field::real);
  EXPECT_EQ(h.symmetry, Symmetry::general);
  EXPECT_EQ(h.rows, 3);
  EXPECT_EQ(h.cols, 4);
  EXPECT_EQ(h.entries, 5);
  EXPECT_EQ(h.size_line, 2);
  EXPECT_EQ(h.data_offset, static_cast<index_t>(text.find("1 1 1.0")));
  EXPECT_EQ(h.banner_text(), "coordinate real general");
}

TEST(MatrixMarketHeader, CoordinateIntegerSymmetric) {
  const Header h = parse("%%MatrixMarket matrix coordinate integer symmetric\n4 4 2\n");
  EXPECT_EQ(h.format, Format::coordinate);
  EXPECT_EQ(h.field, Field::integer);
  EXPECT_EQ(h.symmetry, Symmetry::symmetric);
  EXPECT_EQ(h.rows, 4);
  EXPECT_EQ(h.cols, 4);
  EXPECT_EQ(h.entries, 2);
  EXPECT_EQ(h.banner_text(), "coordinate integer symmetric");
}

TEST(MatrixMarketHeader, CoordinatePatternGeneral) {
  const Header h = parse("%%MatrixMarket matrix coordinate pattern general\n2 7 3\n");
  EXPECT_EQ(h.field, Field::pattern);
  EXPECT_EQ(h.symmetry, Symmetry::general);
  EXPECT_EQ(h.rows, 2);
  EXPECT_EQ(h.cols, 7);
  EXPECT_EQ(h.entries, 3);
}

TEST(MatrixMarketHeader, CoordinatePatternSymmetric) {
  const Header h = parse("%%MatrixMarket matrix coordinate pattern symmetric\n5 5 9\n");
  EXPECT_EQ(h.field, Field::pattern);
  EXPECT_EQ(h.symmetry, Symmetry::symmetric);
  EXPECT_EQ(h.banner_text(), "coordinate pattern symmetric");
}

TEST(MatrixMarketHeader, CoordinateRealSymmetric) {
  const Header h = parse("%%MatrixMarket matrix coordinate real symmetric\n3 3 4\n");
  EXPECT_EQ(h.field, Field::real);
  EXPECT_EQ(h.symmetry, Symmetry::symmetric);
}

TEST(MatrixMarketHeader, ArrayRealGeneralCountsEveryEntry) {
  const std::string text = "%%MatrixMarket matrix array real general\n3 4\n1.0\n";
  const Header h = parse(text);
  EXPECT_EQ(h.format, Format::array);
  EXPECT_EQ(h.field, Field::real);
  EXPECT_EQ(h.rows, 3);
  EXPECT_EQ(h.cols, 4);
  EXPECT_EQ(h.entries, 12);
  EXPECT_EQ(h.size_line, 2);
  EXPECT_EQ(h.data_offset, static_cast<index_t>(text.find("1.0")));
  EXPECT_EQ(h.banner_text(), "array real general");
}

TEST(MatrixMarketHeader, ArrayIntegerGeneral) {
  const Header h = parse("%%MatrixMarket matrix array integer general\n2 5\n");
  EXPECT_EQ(h.format, Format::array);
  EXPECT_EQ(h.field, Field::integer);
  EXPECT_EQ(h.entries, 10);
}

TEST(MatrixMarketHeader, BannerWordsAreCaseInsensitive) {
  const Header h = parse("%%MatrixMarket MATRIX Coordinate REAL SyMmEtRiC\n3 3 1\n");
  EXPECT_EQ(h.format, Format::coordinate);
  EXPECT_EQ(h.field, Field::real);
  EXPECT_EQ(h.symmetry, Symmetry::symmetric);
  const Header a = parse("%%MatrixMarket Matrix ARRAY Integer GENERAL\n2 2\n");
  EXPECT_EQ(a.format, Format::array);
  EXPECT_EQ(a.field, Field::integer);
}

TEST(MatrixMarketHeader, CommentsAndBlankLinesBeforeSizeLine) {
  const std::string banner = "%%MatrixMarket matrix coordinate real general\n";
  const std::string skipped = "% first comment\n\n   \n%another\n\t% indented comment\n";
  const std::string size = "  10 20 30  \n";
  const std::string text = banner + skipped + size + "1 1 1\n";
  const Header h = parse(text);
  // Banner, five skipped lines, then the size line.
  EXPECT_EQ(h.size_line, 7);
  EXPECT_EQ(h.data_offset, static_cast<index_t>(banner.size() + skipped.size() + size.size()));
  EXPECT_EQ(h.rows, 10);
  EXPECT_EQ(h.cols, 20);
  EXPECT_EQ(h.entries, 30);
}

TEST(MatrixMarketHeader, DataOffsetCountsCarriageReturns) {
  // Files written on Windows: the offset is in bytes of the file, so every '\r' counts.
  const std::string text = "%%MatrixMarket matrix coordinate real general\r\n% c\r\n2 3 1\r\n1 1 1\r\n";
  const Header h = parse(text);
  EXPECT_EQ(h.size_line, 3);
  EXPECT_EQ(h.data_offset, static_cast<index_t>(text.find("1 1 1")));
  EXPECT_EQ(h.rows, 2);
  EXPECT_EQ(h.cols, 3);
  EXPECT_EQ(h.entries, 1);
}

TEST(MatrixMarketHeader, SizeLineAtEndOfFileWithoutData) {
  const std::string text = "%%MatrixMarket matrix coordinate real general\n2 2 1\n";
  const Header h = parse(text);
  EXPECT_EQ(h.data_offset, static_cast<index_t>(text.size()));
}

// ----- parse_header: errors ----------------------------------------------------------------------------------

TEST(MatrixMarketHeaderError, EmptyFile) {
  EXPECT_TRUE(fails_at_line("", 1, "empty"));
}

TEST(MatrixMarketHeaderError, BadBanner) {
  EXPECT_TRUE(fails_at_line("3 4 5\n1 1 1\n", 1, "%%MatrixMarket"));
  EXPECT_TRUE(fails_at_line("%MatrixMarket matrix coordinate real general\n3 4 5\n", 1, "%%MatrixMarket"));
  EXPECT_TRUE(fails_at_line("%%NotMatrixMarket matrix coordinate real general\n3 4 5\n", 1, "%%MatrixMarket"));
}

TEST(MatrixMarketHeaderError, UnsupportedObject) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket vector coordinate real general\n3 4 5\n", 1, "vector"));
}

TEST(MatrixMarketHeaderError, UnsupportedFormat) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix sparse real general\n3 4 5\n", 1, "sparse"));
}

TEST(MatrixMarketHeaderError, ComplexField) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate complex general\n3 4 5\n", 1, "complex"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix array complex general\n3 4\n", 1, "complex"));
}

TEST(MatrixMarketHeaderError, ArrayPattern) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix array pattern general\n3 4\n", 1, "pattern"));
}

TEST(MatrixMarketHeaderError, HermitianSymmetry) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real hermitian\n3 3 5\n", 1, "hermitian"));
}

TEST(MatrixMarketHeaderError, SkewSymmetric) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real skew-symmetric\n3 3 5\n", 1, "skew-symmetric"));
}

TEST(MatrixMarketHeaderError, ArraySymmetric) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix array real symmetric\n3 3\n", 1, "symmetric"));
}

TEST(MatrixMarketHeaderError, TextAfterSymmetry) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general extra\n3 3 5\n", 1, "extra"));
}

TEST(MatrixMarketHeaderError, SizeLineWithTooFewFields) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n3 4\n", 2, "bad size line"));
}

TEST(MatrixMarketHeaderError, SizeLineWithTooManyFields) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n3 4 5 6\n", 2, "bad size line"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix array real general\n3 4 12\n", 2, "bad size line"));
}

TEST(MatrixMarketHeaderError, SizeLineNotNumeric) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n% c\n3 x 5\n", 3, "bad size line"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n3 4.0 5\n", 2, "bad size line"));
}

TEST(MatrixMarketHeaderError, SizeLineNegative) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n3 -4 5\n", 2, "non-negative"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix array real general\n\n-3 4\n", 3, "non-negative"));
}

TEST(MatrixMarketHeaderError, MissingSizeLine) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n", 2, "missing size line"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n% a\n% b\n", 4, "missing size line"));
}

TEST(MatrixMarketHeaderError, SymmetricNotSquare) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real symmetric\n% c\n3 4 5\n", 3, "square"));
}

TEST(MatrixMarketHeaderError, EmptyMatrix) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n0 4 5\n", 2, "empty"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n4 0 5\n", 2, "empty"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix coordinate real general\n4 4 0\n", 2, "empty"));
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix array real general\n0 3\n", 2, "empty"));
}

TEST(MatrixMarketHeaderError, ArraySizeOverflows) {
  EXPECT_TRUE(fails_at_line("%%MatrixMarket matrix array real general\n4294967296 4294967296\n", 2, "overflows"));
}

TEST(MatrixMarketHeaderError, IsAnInputErrorWithBadInputExitCode) {
  std::istringstream in("");
  try {
    nmf::mm::parse_header(in, kPath);
    FAIL() << "expected an InputError";
  } catch (const nmf::InputError& e) {
    EXPECT_EQ(e.code(), nmf::ExitCode::bad_input);
  }
}

// ----- data lines --------------------------------------------------------------------------------------------

TEST(MatrixMarketLine, CoordinateRealIsZeroBased) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  const nmf::Triplet t = nmf::mm::parse_coordinate_line("2 3 1.5", h);
  EXPECT_EQ(t.row, 1);
  EXPECT_EQ(t.col, 2);
  EXPECT_EQ(t.value, 1.5);
}

TEST(MatrixMarketLine, CoordinateAcceptsExtentsAsLastIndex) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  const nmf::Triplet t = nmf::mm::parse_coordinate_line("3 4 0", h);
  EXPECT_EQ(t.row, 2);
  EXPECT_EQ(t.col, 3);
  EXPECT_EQ(t.value, 0.0);
}

TEST(MatrixMarketLine, LeadingPlusSigns) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  const nmf::Triplet t = nmf::mm::parse_coordinate_line("+1 +4 +2.25", h);
  EXPECT_EQ(t.row, 0);
  EXPECT_EQ(t.col, 3);
  EXPECT_EQ(t.value, 2.25);
}

TEST(MatrixMarketLine, ScientificNotation) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_EQ(nmf::mm::parse_coordinate_line("1 1 1e-3", h).value, 1e-3);
  EXPECT_EQ(nmf::mm::parse_coordinate_line("1 1 2.5E+2", h).value, 250.0);
  EXPECT_EQ(nmf::mm::parse_coordinate_line("1 1 .5", h).value, 0.5);
}

TEST(MatrixMarketLine, IntegerField) {
  const Header h = header_of(Format::coordinate, Field::integer, 3, 4);
  const nmf::Triplet t = nmf::mm::parse_coordinate_line("3 1 42", h);
  EXPECT_EQ(t.row, 2);
  EXPECT_EQ(t.col, 0);
  EXPECT_EQ(t.value, 42.0);
}

TEST(MatrixMarketLine, PatternGivesOne) {
  const Header h = header_of(Format::coordinate, Field::pattern, 3, 4);
  const nmf::Triplet t = nmf::mm::parse_coordinate_line("2 4", h);
  EXPECT_EQ(t.row, 1);
  EXPECT_EQ(t.col, 3);
  EXPECT_EQ(t.value, 1.0);
}

TEST(MatrixMarketLine, TabsAndSurroundingSpaces) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  const nmf::Triplet t = nmf::mm::parse_coordinate_line("  2\t3 \t 0.25   \t", h);
  EXPECT_EQ(t.row, 1);
  EXPECT_EQ(t.col, 2);
  EXPECT_EQ(t.value, 0.25);
  EXPECT_EQ(nmf::mm::parse_coordinate_line("1 1 7\r", h).value, 7.0);
}

TEST(MatrixMarketLine, ArrayLine) {
  const Header real = header_of(Format::array, Field::real, 2, 2);
  EXPECT_EQ(nmf::mm::parse_array_line("  3.75\t ", real), 3.75);
  EXPECT_EQ(nmf::mm::parse_array_line("+6.5e-1", real), 0.65);
  const Header integer = header_of(Format::array, Field::integer, 2, 2);
  EXPECT_EQ(nmf::mm::parse_array_line("17", integer), 17.0);
}

TEST(MatrixMarketLineError, CoordinateTooFewFields) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("1 2", h).find("expected 'row column value'"), std::string::npos);
  EXPECT_NE(line_problem("1", h).find("expected"), std::string::npos);
  EXPECT_NE(line_problem("", h).find("expected"), std::string::npos);
}

TEST(MatrixMarketLineError, CoordinateTooManyFields) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("1 2 3 4", h).find("expected"), std::string::npos);
  const Header pattern = header_of(Format::coordinate, Field::pattern, 3, 4);
  EXPECT_NE(line_problem("1 2 1.0", pattern).find("expected 'row column'"), std::string::npos);
}

TEST(MatrixMarketLineError, ArrayFieldCount) {
  const Header h = header_of(Format::array, Field::real, 2, 2);
  EXPECT_NE(line_problem("1.0 2.0", h).find("one value"), std::string::npos);
  EXPECT_NE(line_problem("   ", h).find("one value"), std::string::npos);
}

TEST(MatrixMarketLineError, IndexZero) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("0 1 1.0", h).find("row index 0 is out of range 1..3"), std::string::npos);
  EXPECT_NE(line_problem("1 0 1.0", h).find("column index 0 is out of range 1..4"), std::string::npos);
}

TEST(MatrixMarketLineError, IndexBeyondExtent) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("4 1 1.0", h).find("row index 4"), std::string::npos);
  EXPECT_NE(line_problem("1 5 1.0", h).find("column index 5"), std::string::npos);
}

TEST(MatrixMarketLineError, NegativeIndex) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("-1 1 1.0", h).find("row index -1"), std::string::npos);
}

TEST(MatrixMarketLineError, NonIntegerIndex) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("1.5 1 1.0", h).find("row index '1.5' is not an integer"), std::string::npos);
  EXPECT_NE(line_problem("1 a 1.0", h).find("column index 'a' is not an integer"), std::string::npos);
  EXPECT_NE(line_problem("1e0 1 1.0", h).find("not an integer"), std::string::npos);
}

TEST(MatrixMarketLineError, NonNumericValue) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("1 1 abc", h).find("'abc' is not a number"), std::string::npos);
  EXPECT_NE(line_problem("1 1 1.0x", h).find("not a number"), std::string::npos);
  EXPECT_NE(line_problem("1 1 0x10", h).find("not a number"), std::string::npos);
}

TEST(MatrixMarketLineError, NaN) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("1 1 nan", h).find("NaN"), std::string::npos);
  EXPECT_NE(line_problem("1 1 NaN", h).find("NaN"), std::string::npos);
  const Header a = header_of(Format::array, Field::real, 2, 2);
  EXPECT_NE(line_problem("nan", a).find("NaN"), std::string::npos);
}

TEST(MatrixMarketLineError, Infinity) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("1 1 inf", h).find("infinite"), std::string::npos);
  EXPECT_NE(line_problem("1 1 Infinity", h).find("infinite"), std::string::npos);
  EXPECT_NE(line_problem("1 1 -inf", h), "");
}

TEST(MatrixMarketLineError, NegativeValueQuotesTheText) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  const std::string problem = line_problem("2 2 -3.25e-1", h);
  EXPECT_NE(problem.find("negative"), std::string::npos);
  EXPECT_NE(problem.find("-3.25e-1"), std::string::npos);
  const Header integer = header_of(Format::array, Field::integer, 2, 2);
  EXPECT_NE(line_problem("-7", integer).find("-7"), std::string::npos);
}

TEST(MatrixMarketLineError, ValueOutOfDoubleRange) {
  const Header h = header_of(Format::coordinate, Field::real, 3, 4);
  EXPECT_NE(line_problem("1 1 1e400", h).find("out of the range of a double"), std::string::npos);
}

TEST(MatrixMarketLineError, NonIntegerValueInIntegerFile) {
  const Header h = header_of(Format::coordinate, Field::integer, 3, 4);
  EXPECT_NE(line_problem("1 1 2.5", h).find("not an integer"), std::string::npos);
  EXPECT_NE(line_problem("1 1 1e3", h).find("not an integer"), std::string::npos);
  const Header a = header_of(Format::array, Field::integer, 2, 2);
  EXPECT_NE(line_problem("3.0", a).find("not an integer"), std::string::npos);
}

TEST(MatrixMarketLine, IsDataLine) {
  EXPECT_FALSE(nmf::mm::is_data_line(""));
  EXPECT_FALSE(nmf::mm::is_data_line("   \t "));
  EXPECT_FALSE(nmf::mm::is_data_line("\r"));
  EXPECT_FALSE(nmf::mm::is_data_line("% a comment"));
  EXPECT_FALSE(nmf::mm::is_data_line("   % indented comment"));
  EXPECT_TRUE(nmf::mm::is_data_line("1 2 3"));
  EXPECT_TRUE(nmf::mm::is_data_line("  0.5"));
}

// ----- format_value ------------------------------------------------------------------------------------------

int significant_digits(const std::string& text) {
  const std::size_t e = text.find_first_of("eE");
  int digits = 0;
  for (std::size_t i = 0; i < std::min(e, text.size()); ++i)
    digits += std::isdigit(static_cast<unsigned char>(text[i]));
  return digits;
}

void expect_round_trip(double value) {
  const std::string text = nmf::mm::format_value(value);
  EXPECT_EQ(significant_digits(text), 17) << text;
  char* end = nullptr;
  const double back = std::strtod(text.c_str(), &end);
  EXPECT_EQ(end, text.c_str() + text.size()) << text;
  // Bitwise equality: also tells 0.0 from -0.0.
  EXPECT_EQ(std::memcmp(&back, &value, sizeof value), 0) << text << " read back as " << back;
  char buf[32];
  const int length = nmf::mm::format_value(value, buf);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(length)), text);
}

TEST(MatrixMarketFormat, SpecialValuesRoundTrip) {
  expect_round_trip(0.0);
  expect_round_trip(1.0);
  expect_round_trip(1.0 / 3.0);
  expect_round_trip(0.1);
  expect_round_trip(1e300);
  expect_round_trip(std::numeric_limits<double>::max());
  expect_round_trip(std::numeric_limits<double>::min());
  expect_round_trip(std::numeric_limits<double>::denorm_min());
  expect_round_trip(std::numeric_limits<double>::min() / 3.0);
  expect_round_trip(-2.5);
}

TEST(MatrixMarketFormat, RandomDoublesRoundTrip) {
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> exponent(-330, 300);
  for (int i = 0; i < 20000; ++i) expect_round_trip(unit(rng) * std::pow(10.0, exponent(rng)));
  // Arbitrary bit patterns cover every exponent and denormals; skip NaN and Inf.
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t bits = rng();
    double value;
    std::memcpy(&value, &bits, sizeof value);
    if (std::isfinite(value)) expect_round_trip(value);
  }
}

TEST(MatrixMarketFormat, WrittenValuesReadBackThroughArrayParser) {
  // The factor files are written with format_value and must be readable as input again.
  const Header h = header_of(Format::array, Field::real, 1, 1);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const std::uint64_t bits = rng() >> 1;  // clear the sign bit: inputs must be non-negative
    double value;
    std::memcpy(&value, &bits, sizeof value);
    if (!std::isfinite(value)) continue;
    EXPECT_EQ(nmf::mm::parse_array_line(nmf::mm::format_value(value), h), value);
  }
  EXPECT_EQ(nmf::mm::parse_array_line(nmf::mm::format_value(std::numeric_limits<double>::denorm_min()), h),
            std::numeric_limits<double>::denorm_min());
}

}  // namespace

// ----- the readers' fast path ----------------------------------------------------------------------------------

namespace {

// What the careful path makes of a line: the entry, or the problem ("" if it is not a data line at all).
struct CarefulResult {
  bool entry = false;
  nmf::Triplet triplet{};
  std::string problem;
};

CarefulResult careful(std::string_view line, const Header& h) {
  CarefulResult r;
  if (!nmf::mm::is_data_line(line)) return r;
  try {
    if (h.format == Format::coordinate) {
      r.triplet = nmf::mm::parse_coordinate_line(line, h);
    } else {
      r.triplet.value = nmf::mm::parse_array_line(line, h);
    }
    nmf::mm::check_square_is_finite(r.triplet.value);
    r.entry = true;
  } catch (const LineProblem& e) {
    r.problem = e.what();
  }
  return r;
}

// The fast parser may decline any line, but what it accepts must be exactly what the careful path reads.
::testing::AssertionResult fast_agrees(std::string_view line, const Header& h, bool* accepted = nullptr) {
  nmf::Triplet fast{};
  const bool ok = h.format == Format::coordinate ? nmf::mm::try_parse_coordinate_line(line, h, fast)
                                                 : nmf::mm::try_parse_array_line(line, h, fast.value);
  if (accepted) *accepted = ok;
  if (!ok) return ::testing::AssertionSuccess();
  const CarefulResult slow = careful(line, h);
  if (!slow.entry)
    return ::testing::AssertionFailure() << "fast path accepted '" << nmf::mm::printable(line)
                                         << "', the careful one says: " << slow.problem;
  const bool same_value = std::memcmp(&fast.value, &slow.triplet.value, sizeof(double)) == 0;
  if (h.format == Format::coordinate && (fast.row != slow.triplet.row || fast.col != slow.triplet.col))
    return ::testing::AssertionFailure() << "indices differ for '" << line << "'";
  if (!same_value)
    return ::testing::AssertionFailure() << "value " << fast.value << " vs " << slow.triplet.value << " for '" << line
                                         << "'";
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST(MatrixMarketFastPath, TakesPlainLinesWithTheSameResult) {
  const Header real = header_of(Format::coordinate, Field::real, 1000000, 200000);
  const Header integer = header_of(Format::coordinate, Field::integer, 50, 60);
  const Header pattern = header_of(Format::coordinate, Field::pattern, 50, 60);
  const Header array = header_of(Format::array, Field::real, 5, 5);
  const std::pair<std::string, const Header*> plain[] = {
      {"1 1 2.5", &real},      {"1000000 200000 0", &real}, {"17 4 1e-300", &real},      {"3\t4\t0.1", &real},
      {"  2  3  .5  ", &real}, {"2 3 1.34e154", &real},     {"9 9 123456789012", &real}, {"2 3 4e-320", &real},
      {"1 1 7", &integer},     {"50 60 0", &integer},       {"4 5", &pattern},           {"  4\t5 ", &pattern},
      {"3.75", &array},        {" 1e10\t", &array},         {"1 1 2.5\r", &real}};
  for (const auto& [line, h] : plain) {
    bool accepted = false;
    EXPECT_TRUE(fast_agrees(line, *h, &accepted));
    EXPECT_TRUE(accepted) << "the fast path declined the plain line '" << line << "'";
  }
}

TEST(MatrixMarketFastPath, DeclinesEverythingTheCarefulParserMustJudge) {
  const Header real = header_of(Format::coordinate, Field::real, 10, 10);
  const Header integer = header_of(Format::coordinate, Field::integer, 10, 10);
  const Header pattern = header_of(Format::coordinate, Field::pattern, 10, 10);
  const Header array = header_of(Format::array, Field::real, 3, 3);
  const std::pair<std::string, const Header*> odd[] = {{"", &real},
                                                       {"% comment", &real},
                                                       {"   ", &real},
                                                       {"0 1 1", &real},
                                                       {"11 1 1", &real},
                                                       {"1 11 1", &real},
                                                       {"1 1 -1", &real},
                                                       {"1 1 nan", &real},
                                                       {"1 1 inf", &real},
                                                       {"1 1 1e200", &real},
                                                       {"1 1 1e999", &real},
                                                       {"+1 1 1", &real},
                                                       {"1 +1 1", &real},
                                                       {"1 1 +1", &real},
                                                       {"1 1", &real},
                                                       {"1 1 1 1", &real},
                                                       {"1 1 x", &real},
                                                       {"1 1 1.5x", &real},
                                                       {"1x 1 1", &real},
                                                       {"1 1 1,5", &real},
                                                       {"1\v1 1", &real},
                                                       {"1 1 1.5", &integer},
                                                       {"1 1 1e3", &integer},
                                                       {"1 1 3", &pattern},
                                                       {"-1 2 3", &real},
                                                       {"1e0 1 1", &real},
                                                       {"00000000000000000001 1 1", &real},
                                                       {"1 1 0x10", &real},
                                                       {"1 2", &array},
                                                       {"-0.5", &array},
                                                       {"1\x01 1 1", &real},
                                                       {"99999999999999999999 1 1", &real}};
  for (const auto& [line, h] : odd) {
    bool accepted = true;
    EXPECT_TRUE(fast_agrees(line, *h, &accepted));
    const CarefulResult slow = careful(line, *h);
    // Only lines the careful parser accepts unchanged may be taken; the others must be declined.
    if (!slow.entry) EXPECT_FALSE(accepted) << "accepted the bad line '" << nmf::mm::printable(line) << "'";
  }
}

TEST(MatrixMarketFastPath, PlainDecimalsReadAsFromCharsReadsThem) {
  // The fast path divides the decimal's digits by a power of ten; that must be the correctly rounded double for
  // every plain decimal it takes (up to 15 digits), and it must decline longer ones rather than round them.
  const Header real = header_of(Format::coordinate, Field::real, 9, 9);
  std::mt19937_64 rng(29);
  int accepted_count = 0;
  for (int trial = 0; trial < 200000; ++trial) {
    const auto int_digits = 1 + static_cast<int>(rng() % 9), frac_digits = static_cast<int>(rng() % 10);
    std::string number;
    for (int i = 0; i < int_digits; ++i) number += static_cast<char>('0' + rng() % 10);
    if (frac_digits > 0 || rng() % 4 == 0) number += '.';
    for (int i = 0; i < frac_digits; ++i) number += static_cast<char>('0' + rng() % 10);
    bool accepted = false;
    ASSERT_TRUE(fast_agrees("3 4 " + number, real, &accepted));
    accepted_count += accepted;
    if (int_digits + frac_digits <= 15) EXPECT_TRUE(accepted) << number;
  }
  EXPECT_GT(accepted_count, 100000);
}

TEST(MatrixMarketFastPath, ReadsAWholeTextLineByLine) {
  const Header real = header_of(Format::coordinate, Field::real, 9, 9);
  const std::string text = "1 2 0.5\n3 4 1.25\r\n  5\t6 7  \n8 9 2";
  const char* p = text.data();
  const char* const end = p + text.size();
  const nmf::Triplet expected[] = {{0, 1, 0.5}, {2, 3, 1.25}, {4, 5, 7.0}, {7, 8, 2.0}};
  for (const nmf::Triplet& want : expected) {
    nmf::Triplet got{};
    p = nmf::mm::try_parse_coordinate_at(p, end, real, got);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(got.row, want.row);
    EXPECT_EQ(got.col, want.col);
    EXPECT_EQ(got.value, want.value);
  }
  EXPECT_EQ(p, end);
  // A line the fast path cannot take is left to the caller whole, wherever it is in the text.
  const std::string odd = "1 2 0.5\n1 2 -3\n";
  nmf::Triplet got{};
  const char* second = nmf::mm::try_parse_coordinate_at(odd.data(), odd.data() + odd.size(), real, got);
  ASSERT_EQ(second, odd.data() + 8);
  EXPECT_EQ(nmf::mm::try_parse_coordinate_at(second, odd.data() + odd.size(), real, got), nullptr);
}

TEST(MatrixMarketFastPath, RandomLinesNeverDisagree) {
  // Lines built from the bytes that matter (digits, blanks, signs, exponent, dot, letters, CR, other control
  // bytes): whatever the fast path accepts, the careful path reads the same way.
  const Header headers[] = {
      header_of(Format::coordinate, Field::real, 99, 999), header_of(Format::coordinate, Field::integer, 99, 999),
      header_of(Format::coordinate, Field::pattern, 99, 999), header_of(Format::array, Field::real, 9, 9)};
  const std::string alphabet = "0123456789   \t\t.eE+-xn%\r\v";
  std::mt19937_64 rng(13);
  int accepted_count = 0;
  for (int trial = 0; trial < 200000; ++trial) {
    std::string line;
    const auto length = static_cast<int>(rng() % 12);
    for (int i = 0; i < length; ++i) line += alphabet[rng() % alphabet.size()];
    for (const Header& h : headers) {
      bool accepted = false;
      ASSERT_TRUE(fast_agrees(line, h, &accepted));
      accepted_count += accepted;
    }
  }
  EXPECT_GT(accepted_count, 1000);  // the test exercised the accepting side too
}
