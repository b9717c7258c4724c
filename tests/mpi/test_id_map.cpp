// DistributedIdMap (nmf/io/id_map.hpp): ids by index and indices by id, from pieces held by every rank, and a map
// file read back in pieces.
#include <gtest/gtest.h>

#include "nmf/io/id_map.hpp"
#include "test_util.hpp"

namespace nmf::test {
namespace {

// 40 ids "id<i>", in pieces of uneven sizes (rank r holds 2r + 1 of them, the last rank the rest).
std::string piece_of_rank(int rank, int ranks) {
  index_t first = 0;
  for (int r = 0; r < rank; ++r) first += 2 * r + 1;
  const index_t count = rank + 1 == ranks ? 40 - first : 2 * rank + 1;
  std::string text;
  for (index_t i = first; i < first + count; ++i) text += "id" + std::to_string(i) + "\n";
  return text;
}

TEST(DistributedIdMap, IdsOfIndicesAndIndicesOfIds) {
  DistributedIdMap map(MPI_COMM_WORLD, piece_of_rank(world_rank(), world_size()));
  EXPECT_EQ(map.size(), 40);
  // Each rank asks for a different set, in its own order, including indices another rank holds.
  std::vector<index_t> indices;
  for (index_t i = 39 - world_rank(); i >= 0; i -= 3) indices.push_back(i);
  const std::vector<std::string> ids = map.ids_of(indices);
  ASSERT_EQ(ids.size(), indices.size());
  for (std::size_t p = 0; p < ids.size(); ++p) EXPECT_EQ(ids[p], "id" + std::to_string(indices[p]));
  std::vector<std::string> asked = {"id7", "nope", "id" + std::to_string(world_rank() * 5), "id39", ""};
  const std::vector<index_t> found = map.indices_of(asked);
  EXPECT_EQ(found, (std::vector<index_t>{7, -1, world_rank() * 5, 39, -1}));
  EXPECT_TRUE(map.indices_of({}).empty());  // a rank may ask nothing while others ask
}

TEST(DistributedIdMap, ReadsAMapFileInPieces) {
  SharedTempDir dir;
  std::string whole;
  for (int i = 0; i < 25; ++i) whole += "item " + std::to_string(i * 7) + "\n";
  whole += "item 0\n";  // a repeated id maps to its first line
  write_text(dir.file("cols.txt"), whole);
  DistributedIdMap map(MPI_COMM_WORLD, read_id_map_piece(MPI_COMM_WORLD, dir.file("cols.txt")));
  EXPECT_EQ(map.size(), 26);
  EXPECT_EQ(map.ids_of({0, 24, 25}), (std::vector<std::string>{"item 0", "item 168", "item 0"}));
  EXPECT_EQ(map.indices_of({"item 0", "item 161", "item 5"}), (std::vector<index_t>{0, 23, -1}));
  EXPECT_THROW(read_id_map_piece(MPI_COMM_WORLD, dir.file("missing.txt")), CollectiveError);
}

}  // namespace
}  // namespace nmf::test
