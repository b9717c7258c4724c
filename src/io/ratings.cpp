#include "nmf/io/ratings.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace nmf::ratings {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// At most three fields of a line: the readers split every line, so no allocation per line.
struct FieldList {
  std::string_view field[3];
  std::size_t size = 0;
  void push_back(std::string_view text) { field[size++] = text; }
};

// Splits on an exact delimiter, stopping after three fields (the rest of the line is not needed).
void split_on(std::string_view line, std::string_view delimiter, FieldList& fields) {
  std::size_t pos = 0;
  while (fields.size < 3) {
    const std::size_t next = line.find(delimiter, pos);
    fields.push_back(line.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + delimiter.size();
  }
}

void split_on_whitespace(std::string_view line, FieldList& fields) {
  std::size_t pos = 0;
  while (fields.size < 3) {
    while (pos < line.size() && is_space(line[pos])) ++pos;
    if (pos == line.size()) break;
    const std::size_t start = pos;
    while (pos < line.size() && !is_space(line[pos])) ++pos;
    fields.push_back(line.substr(start, pos - start));
  }
}

// The rating as a double, or false if the whole field is not a number. std::from_chars reads the usual
// decimals without a copy; whatever it does not take whole (a sign '+', hexadecimal, a value out of range)
// goes to strtod, which decides as before, so an overflow gives inf, which the caller refuses.
bool parse_number(std::string_view text, double& value) {
  if (text.empty() || is_space(text.front())) return false;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(text.data(), last, value);
  if (ec == std::errc() && end == last) return true;
  const std::string copy(text);  // NUL-terminated; short fields stay in the small-string buffer
  char* stop = nullptr;
  value = std::strtod(copy.c_str(), &stop);
  return stop == copy.c_str() + copy.size();
}

}  // namespace

Separator detect_separator(std::string_view line) {
  if (line.find("::") != std::string_view::npos) return Separator::double_colon;
  if (line.find('\t') != std::string_view::npos) return Separator::tab;
  if (line.find(',') != std::string_view::npos) return Separator::comma;
  return Separator::whitespace;
}

std::string separator_name(Separator separator) {
  switch (separator) {
    case Separator::tab:
      return "tabs";
    case Separator::comma:
      return "commas";
    case Separator::double_colon:
      return "'::'";
    default:
      return "spaces";
  }
}

Fields split_fields(std::string_view line, Separator separator) {
  FieldList fields;
  switch (separator) {
    case Separator::whitespace:
      split_on_whitespace(line, fields);
      break;
    case Separator::tab:
      split_on(line, "\t", fields);
      break;
    case Separator::comma:
      split_on(line, ",", fields);
      break;
    case Separator::double_colon:
      split_on(line, "::", fields);
      break;
  }
  if (fields.size < 3)
    throw mm::LineProblem("expected 3 or more fields (user, item, rating) separated by " + separator_name(separator) +
                          ", found " + std::to_string(fields.size));
  for (auto& field : fields.field) field = trim(field);
  if (fields.field[0].empty()) throw mm::LineProblem("empty user id");
  if (fields.field[1].empty()) throw mm::LineProblem("empty item id");
  return {fields.field[0], fields.field[1], fields.field[2]};
}

bool is_number(std::string_view text) {
  double value = 0;
  return parse_number(text, value);
}

bool is_blank(std::string_view line) {
  return trim(line).empty();
}

Dialect detect_dialect(std::string_view first_line, std::string_view second_line) {
  Dialect dialect;
  const Fields first = split_fields(first_line, detect_separator(first_line));
  dialect.has_header = !is_number(first.rating);
  dialect.separator = detect_separator(dialect.has_header && !is_blank(second_line) ? second_line : first_line);
  return dialect;
}

Rating parse_line(std::string_view line, Separator separator, std::string_view header, bool allow_negative) {
  const Fields fields = split_fields(line, separator);
  Rating rating{fields.user, fields.item, 0.0};
  if (!parse_number(fields.rating, rating.value)) {
    // A second header (files concatenated with their headers) reads better named as such.
    if ((!header.empty() && line == header) || (!is_number(fields.user) && !is_number(fields.item)))
      throw mm::LineProblem("a header line in the middle of the file (a header is allowed only as the first line)");
    throw mm::LineProblem("rating '" + mm::printable(fields.rating) + "' is not a number");
  }
  if (!std::isfinite(rating.value))
    throw mm::LineProblem("rating '" + mm::printable(fields.rating) + "' is not finite");
  mm::check_square_is_finite(rating.value);
  check_rating_allowed(rating.value, allow_negative);
  return rating;
}

void check_rating_allowed(double value, bool allow_negative) {
  if (value < 0 && !allow_negative)
    throw mm::LineProblem("negative rating " + mm::format_shortest(value) +
                          ": plain NMF (--missing zero) needs X >= 0 (the recommender mode, --missing unobserved, "
                          "accepts negative ratings)");
}

}  // namespace nmf::ratings
