#include "nmf/distribution/layout.hpp"

namespace nmf {

namespace {
// Splits every block of `blocks` evenly into `parts` slices; slice index = block * parts + part.
BlockPartition split_each_block(const BlockPartition& blocks, int parts) {
  std::vector<index_t> offsets{0};
  offsets.reserve(static_cast<std::size_t>(blocks.parts() * parts) + 1);
  for (int b = 0; b < blocks.parts(); ++b) {
    const BlockPartition inner = BlockPartition::even(blocks.size(b), parts);
    for (int p = 1; p <= parts; ++p) offsets.push_back(blocks.begin(b) + inner.begin(p));
  }
  return BlockPartition(std::move(offsets));
}
}  // namespace

Layout::Layout(index_t n_, index_t m_, GridShape shape_, BlockPartition row_blocks_, BlockPartition col_blocks_)
    : n(n_),
      m(m_),
      shape(shape_),
      row_blocks(std::move(row_blocks_)),
      col_blocks(std::move(col_blocks_)),
      a_slices(split_each_block(row_blocks, shape.cols)),
      s_slices(split_each_block(col_blocks, shape.rows)) {
  NMF_REQUIRE(row_blocks.parts() == shape.rows && row_blocks.total() == n, Error, "row blocks do not match the grid");
  NMF_REQUIRE(col_blocks.parts() == shape.cols && col_blocks.total() == m, Error,
              "column blocks do not match the grid");
}

}  // namespace nmf
