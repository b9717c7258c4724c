// Rating files (recommender data): one observed rating per line, "user item rating [more fields]", as in
// MovieLens u.data (tab), ratings.dat ("::"), ratings.csv (comma, with a header) and FilmTrust ratings.txt
// (spaces). The line parsers here are local and pure; src/io/ratings_reader.cpp runs them on every rank over
// its own byte range and turns the ids into contiguous indices.
#pragma once

#include <string>
#include <string_view>

#include "nmf/io/matrix_market.hpp"  // mm::LineProblem: the same "problem with one line" exception

namespace nmf::ratings {

enum class Separator { whitespace, tab, comma, double_colon };

// "::" if the line has one, else a tab, else a comma, else runs of spaces and tabs.
Separator detect_separator(std::string_view line);
std::string separator_name(Separator separator);

// The first three fields of a line. Views into the line.
struct Fields {
  std::string_view user, item, rating;
};

// Splits `line`; fields after the third (a timestamp) are ignored. Comma fields are trimmed of spaces.
// Throws mm::LineProblem for fewer than three fields or an empty user or item id.
Fields split_fields(std::string_view line, Separator separator);

// Whether the text is a finite or infinite decimal number as the rating parser reads it.
bool is_number(std::string_view text);

// How the data of a file is laid out, decided from its first line (and the second, after a header).
struct Dialect {
  Separator separator = Separator::whitespace;
  bool has_header = false;  // the first line names the fields (its rating field is not a number)
};

// Lines that carry no rating: empty or only spaces and tabs.
bool is_blank(std::string_view line);

// The first line is a header when its rating field is not a number; the separator comes from the first
// data line (the second line after a header, when there is one). Throws mm::LineProblem (for line 1) when
// the first line has fewer than three fields.
Dialect detect_dialect(std::string_view first_line, std::string_view second_line);

struct Rating {
  std::string_view user, item;
  double value = 0;
};

// Parses a data line. `header` is the file's header line (empty if it has none): a later line equal to it, or
// one with no numeric field at all, is reported as a header in the middle of the file. Throws mm::LineProblem
// for too few fields, a rating that is not a number, NaN, Inf, too large, or refused by check_rating_allowed.
// `allow_negative`: the recommender mode (whose biases absorb any offset) takes negative ratings.
Rating parse_line(std::string_view line, Separator separator, std::string_view header, bool allow_negative = false);

// The one place that decides which rating values the reader accepts beyond "a finite number". Plain NMF
// (--missing zero) needs X >= 0, so negative ratings are refused there; the recommender mode, whose biases
// absorb any offset, accepts them. Throws mm::LineProblem.
void check_rating_allowed(double value, bool allow_negative = false);

}  // namespace nmf::ratings
