#include "nmf/io/matrix_market.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

namespace nmf::mm {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// The blanks of the format. Not std::isspace: that is a locale-aware library call per character, and
// the readers call this for every byte of the file.
constexpr bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits on blanks into at most `max_fields` + 1 fields (one more than allowed, to detect extras).
int split_fields(std::string_view line, std::string_view* fields, int max_fields) {
  int count = 0;
  std::size_t pos = 0;
  while (pos < line.size() && count <= max_fields) {
    while (pos < line.size() && is_blank(line[pos])) ++pos;
    if (pos >= line.size()) break;
    const std::size_t start = pos;
    while (pos < line.size() && !is_blank(line[pos])) ++pos;
    fields[count++] = line.substr(start, pos - start);
  }
  return count;
}

[[noreturn]] void input_error(const std::string& path, index_t line, const std::string& problem) {
  NMF_THROW(InputError, path + ":" + std::to_string(line) + ": " + problem);
}

bool parse_index_field(std::string_view text, index_t& value) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

index_t parse_index(std::string_view text, index_t extent, const char* what) {
  index_t value = 0;
  if (!parse_index_field(text, value))
    throw LineProblem(std::string(what) + " index '" + printable(text) + "' is not an integer");
  if (value < 1 || value > extent)
    throw LineProblem(std::string(what) + " index " + std::to_string(value) + " is out of range 1.." +
                      std::to_string(extent));
  return value - 1;
}

double parse_value(std::string_view text, Field field) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  double value = 0.0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (field == Field::integer) {
    long long integer = 0;
    const auto [end, ec] = std::from_chars(first, last, integer);
    if (ec != std::errc() || end != last)
      throw LineProblem("value '" + printable(text) + "' is not an integer (the header says integer)");
    value = static_cast<double>(integer);
  } else {
    const auto [end, ec] = std::from_chars(first, last, value);
    if (ec == std::errc::result_out_of_range && end == last) {
      // from_chars reports underflow and overflow alike; a value too small for a double is zero.
      const double rounded = std::strtod(std::string(text).c_str(), nullptr);
      if (std::abs(rounded) == HUGE_VAL)
        throw LineProblem("value '" + printable(text) + "' is out of the range of a double");
      value = rounded;
    } else if (ec != std::errc() || end != last) {
      throw LineProblem("value '" + printable(text) + "' is not a number");
    }
  }
  if (std::isnan(value)) throw LineProblem("value is NaN");
  if (std::isinf(value)) throw LineProblem("value is infinite");
  if (value < 0.0)
    throw LineProblem("negative value " + printable(text) + " (NMF needs a non-negative matrix, X >= 0)");
  return value;
}

}  // namespace

std::string printable(std::string_view text) {
  static const char* const kHex = "0123456789abcdef";
  std::string shown;
  shown.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      shown += "\\x";
      shown += kHex[byte >> 4];
      shown += kHex[byte & 0xf];
    } else {
      shown += c;
    }
  }
  return shown;
}

std::string format_shortest(double value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  return std::string(text, end);
}

void check_square_is_finite(double value) {
  if (!square_is_finite(value))
    throw LineProblem("value " + format_shortest(value) + " is too large: " + kTooLargeReason);
}

std::string Header::banner_text() const {
  const char* f = format == Format::coordinate ? "coordinate" : "array";
  const char* v = field == Field::real ? "real" : field == Field::integer ? "integer" : "pattern";
  const char* s = symmetry == Symmetry::general ? "general" : "symmetric";
  return std::string(f) + " " + v + " " + s;
}

Header parse_header(std::istream& in, const std::string& path) {
  Header header;
  std::string line;
  index_t line_number = 1;
  if (!std::getline(in, line)) input_error(path, 1, "the file is empty; expected a '%%MatrixMarket' banner");
  {
    std::istringstream banner(line);
    std::string tag, object, format, field, symmetry, extra;
    banner >> tag >> object >> format >> field >> symmetry;
    if (tag != "%%MatrixMarket")
      input_error(path, 1, "not a Matrix Market file: the first line must start with '%%MatrixMarket'");
    if (lower(object) != "matrix")
      input_error(path, 1, "bad banner: object '" + printable(object) + "' is not supported, only 'matrix'");
    format = lower(format);
    field = lower(field);
    symmetry = lower(symmetry);
    if (format == "coordinate")
      header.format = Format::coordinate;
    else if (format == "array")
      header.format = Format::array;
    else
      input_error(path, 1, "bad banner: format '" + printable(format) + "' must be 'coordinate' or 'array'");
    if (field == "real" || field == "double")
      header.field = Field::real;
    else if (field == "integer")
      header.field = Field::integer;
    else if (field == "pattern" && header.format == Format::coordinate)
      header.field = Field::pattern;
    else
      input_error(path, 1,
                  "bad banner: field '" + printable(field) + "' is not supported with '" + printable(format) +
                      "' (use real or integer" + (header.format == Format::coordinate ? ", or pattern" : "") +
                      "; NMF needs real non-negative data)");
    if (symmetry == "general")
      header.symmetry = Symmetry::general;
    else if (symmetry == "symmetric" && header.format == Format::coordinate)
      header.symmetry = Symmetry::symmetric;
    else
      input_error(path, 1,
                  "bad banner: symmetry '" + printable(symmetry) + "' is not supported with '" + printable(format) +
                      "' (use general" + (header.format == Format::coordinate ? " or symmetric" : "") + ")");
    if (banner >> extra)
      input_error(path, 1, "bad banner: unexpected text '" + printable(extra) + "' after the symmetry");
  }
  index_t offset = static_cast<index_t>(line.size()) + 1;

  // Comments and blank lines, then the size line.
  while (true) {
    if (!std::getline(in, line)) input_error(path, line_number + 1, "missing size line after the banner and comments");
    ++line_number;
    offset += static_cast<index_t>(line.size()) + 1;
    const std::string_view content = trim(line);
    if (content.empty() || content.front() == '%') continue;
    break;
  }
  header.size_line = line_number;
  header.data_offset = offset;

  std::string_view fields[4];
  const int expected = header.format == Format::coordinate ? 3 : 2;
  const int count = split_fields(line, fields, 3);
  const std::string usage = header.format == Format::coordinate ? "'rows columns entries'" : "'rows columns'";
  if (count != expected)
    input_error(path, line_number, "bad size line '" + printable(trim(line)) + "': expected " + usage);
  index_t sizes[3] = {0, 0, 0};
  for (int f = 0; f < count; ++f)
    if (!parse_index_field(fields[f], sizes[f]) || sizes[f] < 0)
      input_error(path, line_number,
                  "bad size line '" + printable(trim(line)) + "': expected " + usage + " as non-negative integers");
  header.rows = sizes[0];
  header.cols = sizes[1];
  if (header.format == Format::coordinate) {
    header.entries = sizes[2];
  } else {
    if (header.rows > 0 && header.cols > std::numeric_limits<index_t>::max() / header.rows)
      input_error(path, line_number, "bad size line: rows x columns overflows 64 bits");
    header.entries = header.rows * header.cols;
  }
  if (header.symmetry == Symmetry::symmetric && header.rows != header.cols)
    input_error(path, line_number,
                "a symmetric matrix must be square, but the size line says " + std::to_string(header.rows) + " x " +
                    std::to_string(header.cols));
  if (header.rows == 0 || header.cols == 0 || header.entries == 0)
    input_error(path, line_number,
                "the matrix is empty (" + std::to_string(header.rows) + " x " + std::to_string(header.cols) + " with " +
                    std::to_string(header.entries) + " entries); there is nothing to factor");
  return header;
}

bool is_data_line(std::string_view line) {
  const std::string_view content = trim(line);
  return !content.empty() && content.front() != '%';
}

Triplet parse_coordinate_line(std::string_view line, const Header& header) {
  std::string_view fields[4];
  const int expected = header.field == Field::pattern ? 2 : 3;
  const int count = split_fields(line, fields, expected);
  if (count != expected)
    throw LineProblem("expected " + std::string(expected == 2 ? "'row column'" : "'row column value'") + ", got '" +
                      printable(trim(line)) + "'");
  Triplet t;
  t.row = parse_index(fields[0], header.rows, "row");
  t.col = parse_index(fields[1], header.cols, "column");
  t.value = header.field == Field::pattern ? 1.0 : parse_value(fields[2], header.field);
  return t;
}

namespace {

// Only the blanks plain lines use; any other byte sends the line to the careful parser.
inline bool plain_blank(char c) {
  return c == ' ' || c == '\t';
}

inline const char* skip_plain_blanks(const char* p, const char* end) {
  while (p < end && plain_blank(*p)) ++p;
  return p;
}

// The end of a field on a plain line: a blank, the line's end ('\r', '\n') or the end of the text.
inline bool ends_field(const char* p, const char* end) {
  return p == end || plain_blank(*p) || *p == '\n' || *p == '\r';
}

// An index of 1 to 18 decimal digits (no sign: at most 18 cannot overflow 64 bits) within 1..extent,
// stored 0-based; false otherwise, or if the digits do not end the field.
inline bool fast_index(const char*& p, const char* end, index_t extent, index_t& out) {
  const char* start = p;
  index_t value = 0;
  while (p < end && static_cast<unsigned>(*p - '0') < 10u) value = value * 10 + (*p++ - '0');
  const auto digits = p - start;
  if (digits == 0 || digits > 18 || value < 1 || value > extent) return false;
  if (!ends_field(p, end)) return false;
  out = value - 1;
  return true;
}

// Plain decimals ("4", "0.25", "3.5"): at most 15 digits, no sign, no exponent. Their digits form an integer
// below 2^53 and 10^(fraction digits) is exact, so one division, which IEEE rounds correctly, gives the double
// nearest the decimal: the same as std::from_chars, without its general machinery (most of the parsing time of
// a rating-like file). False, with `p` unmoved, for anything else.
inline bool plain_decimal(const char*& p, const char* end, double& out) {
  static constexpr double kPowers[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  const char* q = p;
  std::int64_t mantissa = 0;
  int digits = 0;
  for (; q < end && static_cast<unsigned>(*q - '0') < 10u; ++q, ++digits) mantissa = mantissa * 10 + (*q - '0');
  if (digits == 0 || digits > 15) return false;
  int fraction = 0;
  if (q < end && *q == '.') {
    for (++q; q < end && static_cast<unsigned>(*q - '0') < 10u && digits + fraction < 16; ++q, ++fraction)
      mantissa = mantissa * 10 + (*q - '0');
  }
  if (digits + fraction > 15 || !ends_field(q, end)) return false;
  out = static_cast<double>(mantissa) / kPowers[fraction];
  p = q;
  return true;
}

// A value the careful parser would accept as the same double, up to the end or a blank; false otherwise
// (signs, NaN, infinities, negative numbers, values whose square overflows, out of range).
inline bool fast_value(const char*& p, const char* end, Field field, double& out) {
  if (p == end || *p == '+' || *p == '-') return false;
  if (field == Field::integer) {
    long long integer = 0;
    const auto [stop, ec] = std::from_chars(p, end, integer);
    if (ec != std::errc()) return false;
    out = static_cast<double>(integer);
    p = stop;
  } else if (!plain_decimal(p, end, out)) {
    const auto [stop, ec] = std::from_chars(p, end, out);
    if (ec != std::errc()) return false;
    p = stop;
  }
  return out >= 0.0 && square_is_finite(out);
}

// Trailing blanks and the line's end: the first byte of the next line (or `end`), or nullptr if anything else
// follows.
inline const char* line_end(const char* p, const char* end) {
  while (p < end && (plain_blank(*p) || *p == '\r')) ++p;
  if (p == end) return end;
  return *p == '\n' ? p + 1 : nullptr;
}

}  // namespace

const char* try_parse_coordinate_at(const char* p, const char* end, const Header& header, Triplet& entry) {
  p = skip_plain_blanks(p, end);
  if (!fast_index(p, end, header.rows, entry.row)) return nullptr;
  p = skip_plain_blanks(p, end);
  if (!fast_index(p, end, header.cols, entry.col)) return nullptr;
  if (header.field == Field::pattern) {
    entry.value = 1.0;
  } else {
    const char* value_start = skip_plain_blanks(p, end);
    if (value_start == p) return nullptr;  // no blank before the value
    p = value_start;
    if (!fast_value(p, end, header.field, entry.value)) return nullptr;
  }
  return line_end(p, end);
}

bool try_parse_coordinate_line(std::string_view line, const Header& header, Triplet& entry) {
  const char* end = line.data() + line.size();
  return line.find('\n') == std::string_view::npos && try_parse_coordinate_at(line.data(), end, header, entry) == end;
}

bool try_parse_array_line(std::string_view line, const Header& header, double& value) {
  const char* end = line.data() + line.size();
  const char* p = skip_plain_blanks(line.data(), end);
  return line.find('\n') == std::string_view::npos && fast_value(p, end, header.field, value) &&
         line_end(p, end) == end;
}

double parse_array_line(std::string_view line, const Header& header) {
  std::string_view fields[2];
  const int count = split_fields(line, fields, 1);
  if (count != 1) throw LineProblem("expected one value per line, got '" + printable(trim(line)) + "'");
  return parse_value(fields[0], header.field);
}

int format_value(double value, char* buf) {
  // 16 digits after the point in scientific notation = 17 significant digits.
  const auto result = std::to_chars(buf, buf + 32, value, std::chars_format::scientific, 16);
  return static_cast<int>(result.ptr - buf);
}

std::string format_value(double value) {
  char buf[32];
  return std::string(buf, static_cast<std::size_t>(format_value(value, buf)));
}

}  // namespace nmf::mm
