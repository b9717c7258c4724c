#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nmf/error.hpp"
#include "nmf/io/npy.hpp"

namespace {

using nmf::index_t;
using nmf::npy::ElementType;
using nmf::npy::Header;

const char kPath[] = "x.npy";

// Magic, version, little-endian header length (2 bytes for 1.0, 4 for 2.0 and 3.0), dictionary. The
// dictionary is padded with spaces and a newline to a multiple of 64 bytes, as NumPy writes it.
std::string npy_header(int major, const std::string& dict) {
  const std::size_t length_width = major == 1 ? 2 : 4;
  const std::size_t preamble = 6 + 2 + length_width;
  std::string padded = dict;
  while ((preamble + padded.size() + 1) % 64 != 0) padded.push_back(' ');
  padded.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  for (std::size_t b = 0; b < length_width; ++b) out.push_back(static_cast<char>((padded.size() >> (8 * b)) & 0xff));
  return out + padded;
}

std::string dict_for(const std::string& descr, bool fortran, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
}

Header parse_complete(const std::string& bytes) {
  Header h;
  const index_t needed = nmf::npy::parse_header(bytes, kPath, h);
  EXPECT_EQ(needed, 0);
  return h;
}

std::string parse_error(const std::string& bytes) {
  Header h;
  try {
    nmf::npy::parse_header(bytes, kPath, h);
  } catch (const nmf::InputError& e) {
    return e.what();
  }
  return "";
}

Header header_for_descr(const std::string& descr) {
  return parse_complete(npy_header(1, dict_for(descr, false, "(4,)")));
}

// ----- parse_header ------------------------------------------------------------------------------------------

TEST(NpyHeader, Version1COrder) {
  const std::string bytes = npy_header(1, dict_for("<f8", false, "(3, 4)"));
  const Header h = parse_complete(bytes);
  EXPECT_EQ(h.type, ElementType::float64);
  EXPECT_FALSE(h.big_endian);
  EXPECT_EQ(h.item_size, 8);
  EXPECT_FALSE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<index_t>{3, 4}));
  EXPECT_EQ(h.descr, "<f8");
  EXPECT_EQ(h.data_offset, static_cast<index_t>(bytes.size()));
}

TEST(NpyHeader, Version1FortranOrder) {
  const Header h = parse_complete(npy_header(1, dict_for("<f8", true, "(5, 2)")));
  EXPECT_TRUE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<index_t>{5, 2}));
}

TEST(NpyHeader, Version2WithFourByteLength) {
  const std::string bytes = npy_header(2, dict_for("<i8", true, "(7, 9)"));
  const Header h = parse_complete(bytes);
  EXPECT_EQ(h.type, ElementType::int64);
  EXPECT_TRUE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<index_t>{7, 9}));
  EXPECT_EQ(h.data_offset, static_cast<index_t>(bytes.size()));
}

TEST(NpyHeader, Version2HeaderLongerThan64KiB) {
  // The reason version 2.0 exists: a dictionary too long for a 2-byte length.
  std::string dict = dict_for("<f8", false, "(2, 3)");
  dict.append(70000, ' ');
  const std::string bytes = npy_header(2, dict);
  ASSERT_GT(bytes.size(), 65536u);
  const Header h = parse_complete(bytes);
  EXPECT_EQ(h.shape, (std::vector<index_t>{2, 3}));
  EXPECT_EQ(h.data_offset, static_cast<index_t>(bytes.size()));
}

TEST(NpyHeader, Version3) {
  const Header h = parse_complete(npy_header(3, dict_for("<f4", false, "(6,)")));
  EXPECT_EQ(h.type, ElementType::float32);
  EXPECT_EQ(h.shape, (std::vector<index_t>{6}));
}

TEST(NpyHeader, Shapes) {
  EXPECT_EQ(parse_complete(npy_header(1, dict_for("<f8", false, "(11,)"))).shape, (std::vector<index_t>{11}));
  EXPECT_EQ(parse_complete(npy_header(1, dict_for("<f8", false, "()"))).shape, (std::vector<index_t>{}));
  EXPECT_EQ(parse_complete(npy_header(1, dict_for("<f8", false, "(2, 3, 4)"))).shape, (std::vector<index_t>{2, 3, 4}));
  EXPECT_EQ(parse_complete(npy_header(1, dict_for("<f8", false, "(8589934592, 1)"))).shape,
            (std::vector<index_t>{8589934592LL, 1}));
}

TEST(NpyHeader, KeysInAnyOrder) {
  const Header h = parse_complete(npy_header(1, "{'shape': (2, 5), 'fortran_order': True, 'descr': '>f8'}"));
  EXPECT_EQ(h.shape, (std::vector<index_t>{2, 5}));
  EXPECT_TRUE(h.fortran_order);
  EXPECT_EQ(h.descr, ">f8");
  EXPECT_TRUE(h.big_endian);
}

struct DtypeCase {
  const char* descr;
  ElementType type;
  int item_size;
  bool big_endian;
};

TEST(NpyHeader, SupportedDtypes) {
  const DtypeCase cases[] = {
      {"|u1", ElementType::uint8, 1, false},   {"<i4", ElementType::int32, 4, false},
      {"<i8", ElementType::int64, 8, false},   {"<f4", ElementType::float32, 4, false},
      {"<f8", ElementType::float64, 8, false}, {">f8", ElementType::float64, 8, true},
      {">i4", ElementType::int32, 4, true},
  };
  for (const DtypeCase& c : cases) {
    const Header h = header_for_descr(c.descr);
    EXPECT_EQ(h.type, c.type) << c.descr;
    EXPECT_EQ(h.item_size, c.item_size) << c.descr;
    EXPECT_EQ(h.big_endian, c.big_endian) << c.descr;
    EXPECT_EQ(h.descr, c.descr);
  }
}

TEST(NpyHeader, NeedsMoreBytes) {
  const std::string v1 = npy_header(1, dict_for("<f8", false, "(3, 4)"));
  const std::string v2 = npy_header(2, dict_for("<f8", false, "(3, 4)"));
  // Too short for the version and length: ask for magic + version + a 2-byte length at least.
  for (std::size_t length : {0u, 3u, 6u, 9u}) {
    Header h;
    EXPECT_EQ(nmf::npy::parse_header(v1.substr(0, length), kPath, h), 10) << length;
    EXPECT_TRUE(h.shape.empty());
  }
  // Version 2.0 has a 4-byte length, so its preamble is 12 bytes.
  Header h2;
  EXPECT_EQ(nmf::npy::parse_header(v2.substr(0, 10), kPath, h2), 12);
  // The preamble is there but the dictionary is not: ask for all of it.
  for (const std::string* full : {&v1, &v2}) {
    Header h;
    EXPECT_EQ(nmf::npy::parse_header(full->substr(0, 20), kPath, h), static_cast<index_t>(full->size()));
    EXPECT_EQ(nmf::npy::parse_header(full->substr(0, full->size() - 1), kPath, h), static_cast<index_t>(full->size()));
    EXPECT_TRUE(h.shape.empty());
  }
}

TEST(NpyHeader, TrailingDataIsIgnored) {
  const std::string header = npy_header(1, dict_for("<f8", false, "(1, 1)"));
  const Header h = parse_complete(header + std::string(8, '\x7f'));
  EXPECT_EQ(h.data_offset, static_cast<index_t>(header.size()));
}

TEST(NpyHeaderError, BadMagic) {
  std::string bytes = npy_header(1, dict_for("<f8", false, "(3, 4)"));
  bytes[3] = 'X';
  const std::string message = parse_error(bytes);
  EXPECT_NE(message.find("x.npy"), std::string::npos) << message;
  EXPECT_NE(message.find("magic"), std::string::npos) << message;
  EXPECT_NE(parse_error("PK\x03\x04 a zip file"), "");
  // A short buffer that already disagrees with the magic string is rejected, not asked to grow.
  EXPECT_NE(parse_error("%%Ma"), "");
}

TEST(NpyHeaderError, UnsupportedVersion) {
  for (int major : {0, 4, 255}) {
    std::string bytes = npy_header(1, dict_for("<f8", false, "(3, 4)"));
    bytes[6] = static_cast<char>(major);
    const std::string message = parse_error(bytes);
    EXPECT_NE(message.find("version " + std::to_string(major)), std::string::npos) << message;
  }
}

TEST(NpyHeaderError, UnsupportedDtypes) {
  for (const char* descr : {"<c16", "<f2", "|b1", "<U3", "<i2", "<u4", "|O", "|S5"}) {
    const std::string message = parse_error(npy_header(1, dict_for(descr, false, "(3,)")));
    EXPECT_NE(message.find("unsupported dtype '" + std::string(descr) + "'"), std::string::npos)
        << descr << ": " << message;
  }
}

TEST(NpyHeaderError, MissingKeys) {
  EXPECT_NE(parse_error(npy_header(1, "{'fortran_order': False, 'shape': (3,), }")).find("'descr'"), std::string::npos);
  EXPECT_NE(parse_error(npy_header(1, "{'descr': '<f8', 'shape': (3,), }")).find("'fortran_order'"), std::string::npos);
  EXPECT_NE(parse_error(npy_header(1, "{'descr': '<f8', 'fortran_order': False, }")).find("'shape'"),
            std::string::npos);
}

// ----- format_float64_header ---------------------------------------------------------------------------------

TEST(NpyFormat, HeaderIsPaddedAndParsesBack) {
  const std::vector<std::vector<index_t>> shapes = {{3, 4}, {1, 1}, {5}, {}, {123456789, 1000}, {2, 3, 4}};
  for (const auto& shape : shapes) {
    for (bool fortran : {false, true}) {
      const std::string bytes = nmf::npy::format_float64_header(shape, fortran);
      EXPECT_EQ(bytes.size() % 64, 0u);
      ASSERT_FALSE(bytes.empty());
      EXPECT_EQ(bytes.back(), '\n');
      EXPECT_EQ(bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)), 0);
      const Header h = parse_complete(bytes);
      EXPECT_EQ(h.shape, shape);
      EXPECT_EQ(h.fortran_order, fortran);
      EXPECT_EQ(h.descr, "<f8");
      EXPECT_EQ(h.type, ElementType::float64);
      EXPECT_FALSE(h.big_endian);
      EXPECT_EQ(h.data_offset, static_cast<index_t>(bytes.size()));
    }
  }
}

TEST(NpyFormat, HeaderLengthFieldMatchesDictionary) {
  const std::string bytes = nmf::npy::format_float64_header({7, 8}, false);
  const std::size_t length = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ(length + 10, bytes.size());
}

TEST(NpyFormat, OneDimensionalShapeIsAPythonTuple) {
  // "(5)" is an int in Python, not a tuple; NumPy needs the trailing comma.
  EXPECT_NE(nmf::npy::format_float64_header({5}, false).find("(5,"), std::string::npos);
  EXPECT_NE(nmf::npy::format_float64_header({3, 4}, false).find("(3, 4)"), std::string::npos);
}

// ----- convert_to_double -------------------------------------------------------------------------------------

std::string bytes_of(std::initializer_list<unsigned> values) {
  std::string out;
  for (unsigned v : values) out.push_back(static_cast<char>(v));
  return out;
}

std::vector<double> convert(const std::string& raw, const std::string& descr) {
  const Header h = header_for_descr(descr);
  const index_t count = static_cast<index_t>(raw.size()) / h.item_size;
  std::vector<double> out(static_cast<std::size_t>(count), -1.0);
  nmf::npy::convert_to_double(raw.data(), count, h, out.data());
  return out;
}

TEST(NpyConvert, Uint8) {
  EXPECT_EQ(convert(bytes_of({0, 1, 127, 128, 255}), "|u1"), (std::vector<double>{0, 1, 127, 128, 255}));
}

TEST(NpyConvert, Int32LittleEndian) {
  const std::string raw = bytes_of({0x04, 0x03, 0x02, 0x01, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x80});
  EXPECT_EQ(convert(raw, "<i4"), (std::vector<double>{16909060.0, -1.0, -2147483648.0}));
}

TEST(NpyConvert, Int32BigEndian) {
  const std::string raw = bytes_of({0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xfe, 0x7f, 0xff, 0xff, 0xff});
  EXPECT_EQ(convert(raw, ">i4"), (std::vector<double>{16909060.0, -2.0, 2147483647.0}));
}

TEST(NpyConvert, Int64LittleEndian) {
  // 0x0000000100000002 = 2^32 + 2.
  const std::string raw = bytes_of({0x02, 0, 0, 0, 0x01, 0, 0, 0, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  EXPECT_EQ(convert(raw, "<i8"), (std::vector<double>{4294967298.0, -3.0}));
}

TEST(NpyConvert, Int64BigEndian) {
  const std::string raw = bytes_of({0, 0, 0, 0x01, 0, 0, 0, 0x02});
  EXPECT_EQ(convert(raw, ">i8"), (std::vector<double>{4294967298.0}));
}

TEST(NpyConvert, Float32) {
  // 1.5f = 0x3fc00000, -0.25f = 0xbe800000.
  EXPECT_EQ(convert(bytes_of({0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x80, 0xbe}), "<f4"),
            (std::vector<double>{1.5, -0.25}));
  EXPECT_EQ(convert(bytes_of({0x3f, 0xc0, 0x00, 0x00}), ">f4"), (std::vector<double>{1.5}));
}

TEST(NpyConvert, Float64LittleEndian) {
  // 1.0 = 0x3ff0000000000000, -2.5 = 0xc004000000000000.
  const std::string raw = bytes_of({0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0x04, 0xc0});
  EXPECT_EQ(convert(raw, "<f8"), (std::vector<double>{1.0, -2.5}));
}

TEST(NpyConvert, Float64BigEndian) {
  // 0.1 = 0x3fb999999999999a.
  const std::string raw = bytes_of({0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a});
  EXPECT_EQ(convert(raw, ">f8"), (std::vector<double>{1.0, 0.1}));
}

TEST(NpyConvert, ZeroCountWritesNothing) {
  const Header h = header_for_descr("<f8");
  double out = 42.0;
  nmf::npy::convert_to_double(nullptr, 0, h, &out);
  EXPECT_EQ(out, 42.0);
}

}  // namespace
