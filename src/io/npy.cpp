#include "nmf/io/npy.hpp"

#include <algorithm>
#include <cstring>
#include <regex>

#include "nmf/error.hpp"

namespace nmf::npy {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLength = 6;

[[noreturn]] void header_error(const std::string& path, const std::string& problem) {
  NMF_THROW(InputError, path + ": " + problem);
}

std::uint32_t read_le(const std::string& bytes, std::size_t pos, int width) {
  std::uint32_t value = 0;
  for (int b = width - 1; b >= 0; --b)
    value = (value << 8) | static_cast<unsigned char>(bytes[pos + static_cast<std::size_t>(b)]);
  return value;
}

void parse_descr(const std::string& descr, const std::string& path, Header& header) {
  static const std::regex pattern(R"(([<>|=])([uifcbOSUVMm])(\d+))");
  std::smatch match;
  if (!std::regex_match(descr, match, pattern)) header_error(path, "unsupported dtype '" + descr + "'");
  const char order = match[1].str()[0];
  const char kind = match[2].str()[0];
  const int size = std::stoi(match[3].str());
  header.big_endian = order == '>';
  header.item_size = size;
  if (kind == 'u' && size == 1)
    header.type = ElementType::uint8;
  else if (kind == 'i' && size == 4)
    header.type = ElementType::int32;
  else if (kind == 'i' && size == 8)
    header.type = ElementType::int64;
  else if (kind == 'f' && size == 4)
    header.type = ElementType::float32;
  else if (kind == 'f' && size == 8)
    header.type = ElementType::float64;
  else
    header_error(path, "unsupported dtype '" + descr +
                           "': supported are uint8, int32, int64, float32 and float64 (u1, i4, i8, f4, f8)");
}

template <class T>
T load(const char* p, bool swap) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, p, sizeof(T));
  if (swap) std::reverse(bytes, bytes + sizeof(T));
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

template <class T>
void convert(const char* raw, index_t count, bool swap, double* out) {
  for (index_t i = 0; i < count; ++i)
    out[i] = static_cast<double>(load<T>(raw + i * static_cast<index_t>(sizeof(T)), swap));
}

}  // namespace

index_t parse_header(const std::string& bytes, const std::string& path, Header& header) {
  const std::size_t known = std::min(bytes.size(), kMagicLength);
  if (bytes.compare(0, known, kMagic, known) != 0) header_error(path, "not a NumPy .npy file (bad magic string)");
  if (bytes.size() < kMagicLength + 4) return kMagicLength + 4;
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t length_width = 0;
  if (major == 1)
    length_width = 2;
  else if (major == 2 || major == 3)
    length_width = 4;
  else
    header_error(path, "unsupported .npy format version " + std::to_string(major));
  const std::size_t preamble = kMagicLength + 2 + length_width;
  if (bytes.size() < preamble) return static_cast<index_t>(preamble);
  const std::size_t dict_length = read_le(bytes, kMagicLength + 2, static_cast<int>(length_width));
  const std::size_t total = preamble + dict_length;
  if (bytes.size() < total) return static_cast<index_t>(total);
  const std::string dict = bytes.substr(preamble, dict_length);

  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex order_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  std::smatch match;
  if (!std::regex_search(dict, match, descr_re)) header_error(path, "malformed .npy header: no 'descr'");
  header.descr = match[1].str();
  parse_descr(header.descr, path, header);
  if (!std::regex_search(dict, match, order_re)) header_error(path, "malformed .npy header: no 'fortran_order'");
  header.fortran_order = match[1].str() == "True";
  if (!std::regex_search(dict, match, shape_re)) header_error(path, "malformed .npy header: no 'shape'");
  header.shape.clear();
  const std::string dims = match[1].str();
  static const std::regex number_re(R"(-?\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number_re); it != std::sregex_iterator(); ++it) {
    header.shape.push_back(std::stoll(it->str()));
    if (header.shape.back() < 0) header_error(path, "malformed .npy header: negative dimension in the shape");
  }
  header.data_offset = static_cast<index_t>(total);
  return 0;
}

std::string format_float64_header(const std::vector<index_t>& shape, bool fortran_order) {
  std::string dims;
  for (index_t d : shape) dims += std::to_string(d) + ", ";
  if (!shape.empty()) dims.resize(dims.size() - (shape.size() == 1 ? 1 : 2));  // NumPy writes (), (5,) and (5, 3)
  std::string dict = "{'descr': '<f8', 'fortran_order': " + std::string(fortran_order ? "True" : "False") +
                     ", 'shape': (" + dims + "), }";
  // Pad with spaces so that magic + version + length + dictionary + '\n' is a multiple of 64.
  const std::size_t unpadded = kMagicLength + 2 + 2 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  std::string out(kMagic, kMagicLength);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>((dict.size() >> 8) & 0xff));
  return out + dict;
}

void convert_to_double(const char* raw, index_t count, const Header& header, double* out) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "byte swapping below assumes a little-endian host");
  // Swap bytes when the file's byte order differs from this (little-endian) machine's.
  const bool swap = header.big_endian;
  switch (header.type) {
    case ElementType::uint8:
      convert<std::uint8_t>(raw, count, false, out);
      break;
    case ElementType::int32:
      convert<std::int32_t>(raw, count, swap, out);
      break;
    case ElementType::int64:
      convert<std::int64_t>(raw, count, swap, out);
      break;
    case ElementType::float32:
      convert<float>(raw, count, swap, out);
      break;
    case ElementType::float64:
      convert<double>(raw, count, swap, out);
      break;
  }
}

}  // namespace nmf::npy
