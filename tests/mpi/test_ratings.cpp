// Rating files read in parallel: on every grid of the job's ranks, with read blocks small enough that lines
// cross them, the matrix and the id maps equal a serial reference numbered by first occurrence (so they are
// the same for any number of ranks: ctest runs this at 1, 2 and 4); duplicates keep the last rating; a bad line
// anywhere gives every rank the same message naming it.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <sstream>

#include "nmf/io/input.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

// A file's ratings as a serial reader sees them: ids numbered in order of first occurrence, last rating kept.
struct Reference {
  std::vector<std::string> users, items;
  DenseMatrix x;
};

Reference serial_reference(const std::vector<std::tuple<std::string, std::string, double>>& lines) {
  Reference ref;
  std::map<std::string, index_t> user_index, item_index;
  std::map<std::pair<index_t, index_t>, double> last;
  for (const auto& [user, item, value] : lines) {
    if (user_index.try_emplace(user, ref.users.size()).second) ref.users.push_back(user);
    if (item_index.try_emplace(item, ref.items.size()).second) ref.items.push_back(item);
    last[{user_index[user], item_index[item]}] = value;
  }
  ref.x = DenseMatrix(static_cast<index_t>(ref.users.size()), static_cast<index_t>(ref.items.size()));
  for (const auto& [at, value] : last) ref.x(at.first, at.second) = value;
  return ref;
}

// Ratings with string ids, in random order, some pairs rated twice.
std::vector<std::tuple<std::string, std::string, double>> random_ratings(int count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::tuple<std::string, std::string, double>> lines;
  for (int l = 0; l < count; ++l) {
    const std::string user = "user-" + std::to_string(rng() % 23);
    const std::string item = "film " + std::to_string(rng() % 31 * 7);  // a space inside: CSV keeps it
    lines.emplace_back(user, item, 0.5 * (1 + rng() % 10));
  }
  return lines;
}

// This rank's piece of each map, gathered in rank order on every rank (tiny maps only).
std::string gather_text(const std::string& piece) {
  const int ranks = world_size();
  int mine = static_cast<int>(piece.size());
  std::vector<int> sizes(ranks), displs(ranks);
  MPI_Allgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < ranks; ++r) displs[r] = total, total += sizes[r];
  std::string all(static_cast<std::size_t>(total), '\0');
  MPI_Allgatherv(piece.data(), mine, MPI_CHAR, all.data(), sizes.data(), displs.data(), MPI_CHAR, MPI_COMM_WORLD);
  return all;
}

std::string lines_of(const std::vector<std::string>& ids) {
  std::string text;
  for (const std::string& id : ids) text += id + "\n";
  return text;
}

void expect_ratings_read(const std::string& path, const Reference& ref) {
  for (const index_t chunk : {index_t{7}, index_t{16} << 20}) {
    for (const GridShape shape : all_grid_shapes(world_size())) {
      for (const bool transpose : {false, true}) {
        SCOPED_TRACE(path + " on grid " + shape.str() + (transpose ? " transposed" : "") + ", chunk " +
                     std::to_string(chunk));
        ReadOptions options;
        options.path = path;
        options.transpose = transpose;
        options.chunk_bytes = chunk;
        auto source = open_input(MPI_COMM_WORLD, options);  // auto-detected
        ASSERT_NE(source->id_maps(), nullptr);
        ASSERT_EQ(source->shape().rows, transpose ? ref.x.cols() : ref.x.rows());
        EXPECT_EQ(gather_text(source->id_maps()->rows), lines_of(transpose ? ref.items : ref.users));
        EXPECT_EQ(gather_text(source->id_maps()->cols), lines_of(transpose ? ref.users : ref.items));
        const ProcessGrid grid(MPI_COMM_WORLD, shape);
        const DistMatrix x = source->distribute(grid);
        expect_block_matches(x, grid, ref.x, transpose);
        index_t nonzeros = 0;
        for (double v : ref.x.values()) nonzeros += v != 0.0;
        EXPECT_EQ(x.stats.nonzeros, nonzeros);
        EXPECT_EQ(x.stats.duplicates, 0);  // replaced, not summed
      }
    }
  }
}

TEST(RatingsRead, CsvWithHeaderAndStringIdsIsTheSameOnEveryGrid) {
  SharedTempDir dir;
  const auto lines = random_ratings(300, 11);
  std::ostringstream text;
  text << "userId,movieId,rating,timestamp\r\n";
  for (const auto& [user, item, value] : lines) text << user << "," << item << "," << value << ",964982703\r\n";
  write_text(dir.file("r.csv"), text.str());
  expect_ratings_read(dir.file("r.csv"), serial_reference(lines));
}

TEST(RatingsRead, EverySeparator) {
  SharedTempDir dir;
  const auto lines = random_ratings(120, 12);
  for (const std::string separator : {"\t", "::", " "}) {
    std::ostringstream text;
    for (const auto& [user, item, value] : lines) {
      std::string u = user, i = item;
      if (separator == " ") i.replace(i.find(' '), 1, "_");  // whitespace-separated ids have no spaces
      text << u << separator << i << separator << value << (separator == " " ? "\n\n" : separator + "1\n");
    }
    auto adjusted = lines;
    if (separator == " ")
      for (auto& [user, item, value] : adjusted) item.replace(item.find(' '), 1, "_");
    write_text(dir.file("r.txt"), text.str());
    expect_ratings_read(dir.file("r.txt"), serial_reference(adjusted));
  }
}

TEST(RatingsRead, DuplicatesKeepTheLastRating) {
  SharedTempDir dir;
  // (7, 42) is rated on lines 1, 4 and 6: the last, 1.5, is kept. Integer ids, numbered by first occurrence.
  write_text(dir.file("d.txt"), "7 42 5\n3 42 2\n7 9 1\n7 42 4\n3 9 3\n7 42 1.5\n");
  Reference ref;
  ref.users = {"7", "3"};
  ref.items = {"42", "9"};
  ref.x = DenseMatrix(2, 2);
  ref.x(0, 0) = 1.5;
  ref.x(1, 0) = 2;
  ref.x(0, 1) = 1;
  ref.x(1, 1) = 3;
  expect_ratings_read(dir.file("d.txt"), ref);
}

// Every rank must throw the same CollectiveError naming the line.
void expect_agreed_error(const std::string& path, const std::string& expected, index_t chunk = 16 << 20) {
  ReadOptions options;
  options.path = path;
  options.format = InputFormat::ratings;
  options.chunk_bytes = chunk;
  options.missing = MissingEntries::zero;  // plain NMF: negative ratings are refused
  std::string message;
  try {
    auto source = open_input(MPI_COMM_WORLD, options);
    const ProcessGrid grid(MPI_COMM_WORLD, all_grid_shapes(world_size()).front());
    source->distribute(grid);
  } catch (const CollectiveError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find(expected), std::string::npos) << "message: '" << message << "', expected " << expected;
}

TEST(RatingsRead, BadLinesAreAgreedAndNamed) {
  SharedTempDir dir;
  std::string good;
  for (int l = 0; l < 200; ++l) good += std::to_string(l % 13) + "," + std::to_string(l % 17) + ",3\n";
  const auto with_line_at = [&](int line, const std::string& bad) {  // line: 1-based, after a header line
    std::string text = "user,item,rating\n";
    int n = 2;
    std::istringstream in(good);
    for (std::string l; std::getline(in, l); ++n) text += (n == line ? bad : l) + "\n";
    return text;
  };
  // Near the end, so the last rank reads it; and near the start, read by rank 0.
  for (const int line : {3, 195}) {
    for (const index_t chunk : {index_t{5}, index_t{16} << 20}) {
      write_text(dir.file("b.csv"), with_line_at(line, "1,2,three"));
      expect_agreed_error(dir.file("b.csv"), "b.csv:" + std::to_string(line) + ": rating 'three' is not a number",
                          chunk);
      write_text(dir.file("b.csv"), with_line_at(line, "1,2"));
      expect_agreed_error(dir.file("b.csv"), "b.csv:" + std::to_string(line) + ": expected 3 or more fields", chunk);
      write_text(dir.file("b.csv"), with_line_at(line, "user,item,rating"));
      expect_agreed_error(dir.file("b.csv"), "b.csv:" + std::to_string(line) + ": a header line in the middle", chunk);
      write_text(dir.file("b.csv"), with_line_at(line, "1,2,-1"));
      expect_agreed_error(dir.file("b.csv"), "b.csv:" + std::to_string(line) + ": negative rating -1", chunk);
    }
  }
  write_text(dir.file("e.csv"), "");
  expect_agreed_error(dir.file("e.csv"), "e.csv:1: the file is empty");
  write_text(dir.file("h.csv"), "user,item,rating\n\n");
  expect_agreed_error(dir.file("h.csv"), "h.csv:2: no ratings in the file after its header");
}

}  // namespace
}  // namespace nmf::test
