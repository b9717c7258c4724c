// Matrix Market (NIST) text format: the header and the per-line parsers. Hand-written because no library
// parses one byte range of a file in isolation, which is what reading in parallel needs; the readers in
// src/io run these on every rank over its own range.
#pragma once

#include <istream>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include "nmf/matrix.hpp"

namespace nmf::mm {

enum class Format { coordinate, array };
enum class Field { real, integer, pattern };
enum class Symmetry { general, symmetric };

struct Header {
  Format format = Format::coordinate;
  Field field = Field::real;
  Symmetry symmetry = Symmetry::general;
  index_t rows = 0;
  index_t cols = 0;
  index_t entries = 0;              // data lines declared: nnz for coordinate, rows * cols for array
  index_t data_offset = 0;          // byte offset of the first data line
  index_t size_line = 0;            // 1-based line number of the size line
  std::string banner_text() const;  // "coordinate real general"
};

// Reads the banner, the comments and the size line. Throws InputError "path:line: problem".
Header parse_header(std::istream& in, const std::string& path);

// A problem with one data line; the caller adds the file name and line number.
class LineProblem : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether a data line carries an entry: blank lines and '%' comment lines do not.
bool is_data_line(std::string_view line);

// Parses "row col [value]" into 0-based indices. Throws LineProblem for a wrong field count, an index
// that is 0 or out of range, a value that is not a number, NaN, Inf or negative.
Triplet parse_coordinate_line(std::string_view line, const Header& header);

// Parses the single value of an array-format line, with the same checks.
double parse_array_line(std::string_view line, const Header& header);

// The fast path of the readers: parses a plain data line ("row col [value]" with blanks or tabs between,
// unsigned decimal indices, a value from_chars reads whole) into `entry` and returns true only if the line
// is an entry the careful parsers above accept with the same result, including the readers' own check
// that its square is finite. Returns false for anything else -- comments, blank lines, signs, odd blanks,
// bad input -- and the caller then runs is_data_line and the careful parser, which say what is wrong. One
// scan of the bytes, no allocation, no exceptions: the readers call it for every line of the file.
bool try_parse_coordinate_line(std::string_view line, const Header& header, Triplet& entry);
// The same on a whole text, with no splitting into lines first: parses the plain line that starts at `line`
// in [line, end) and returns the first byte of the next line (or `end`), or nullptr if the line is not plain.
const char* try_parse_coordinate_at(const char* line, const char* end, const Header& header, Triplet& entry);
// The same for the single value of an array-format line.
bool try_parse_array_line(std::string_view line, const Header& header, double& value);

// `text` from a file, fit for a message: control bytes (NUL, escape, ...) shown as \xNN, so a stray
// byte can neither cut the message short nor garble the terminal.
std::string printable(std::string_view text);

// NMF works with the squares of X's entries (||X||_F^2, Gram matrices); a value whose square overflows a
// double (above about 1.34e154) cannot be factored without scaling, so the readers refuse it.
inline bool square_is_finite(double value) {
  return value * value <= std::numeric_limits<double>::max();
}
inline constexpr const char* kTooLargeReason =
    "its square overflows a double (the largest accepted value is about 1.34e154); scale the data down";
// Throws LineProblem for a value whose square overflows. Separate from the line parsers, which read any
// double the format holds (the factor files too); the readers call it on every entry of X.
void check_square_is_finite(double value);

// The shortest text that reads back as `value` ("1e+200"), for messages.
std::string format_shortest(double value);

// Formats a double with 17 significant digits, the shortest form that always round-trips.
std::string format_value(double value);
// The same into buf (at least 32 bytes); returns the number of characters written.
int format_value(double value, char* buf);

}  // namespace nmf::mm
