#include "nmf/io/ratings.hpp"

#include <cmath>
#include <cstdlib>
#include <vector>

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

// Splits on an exact delimiter, stopping after `wanted` fields (the rest of the line is not needed).
void split_on(std::string_view line, std::string_view delimiter, std::size_t wanted,
              std::vector<std::string_view>& fields) {
  std::size_t pos = 0;
  while (fields.size() < wanted) {
    const std::size_t next = line.find(delimiter, pos);
    fields.push_back(line.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos));
    if (next == std::string_view::npos) break;
    pos = next + delimiter.size();
  }
}

void split_on_whitespace(std::string_view line, std::size_t wanted, std::vector<std::string_view>& fields) {
  std::size_t pos = 0;
  while (fields.size() < wanted) {
    while (pos < line.size() && is_space(line[pos])) ++pos;
    if (pos == line.size()) break;
    const std::size_t start = pos;
    while (pos < line.size() && !is_space(line[pos])) ++pos;
    fields.push_back(line.substr(start, pos - start));
  }
}

// The rating as a double, or false if the whole field is not a number. strtod (not from_chars) so that an
// overflow gives inf, which the caller refuses, rather than an unspecified value.
bool parse_number(std::string_view text, double& value) {
  if (text.empty() || is_space(text.front())) return false;
  const std::string copy(text);  // NUL-terminated; short fields stay in the small-string buffer
  char* end = nullptr;
  value = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
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
  std::vector<std::string_view> fields;
  fields.reserve(3);
  switch (separator) {
    case Separator::whitespace:
      split_on_whitespace(line, 3, fields);
      break;
    case Separator::tab:
      split_on(line, "\t", 3, fields);
      break;
    case Separator::comma:
      split_on(line, ",", 3, fields);
      break;
    case Separator::double_colon:
      split_on(line, "::", 3, fields);
      break;
  }
  if (fields.size() < 3)
    throw mm::LineProblem("expected 3 or more fields (user, item, rating) separated by " + separator_name(separator) +
                          ", found " + std::to_string(fields.size()));
  for (auto& field : fields) field = trim(field);
  if (fields[0].empty()) throw mm::LineProblem("empty user id");
  if (fields[1].empty()) throw mm::LineProblem("empty item id");
  return {fields[0], fields[1], fields[2]};
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
