#include "input_setup.hpp"

namespace nmf::detail {

ReadOptions input_read_options(const Options& o, int factor_rank, MissingEntries missing) {
  ReadOptions r;
  r.path = o.input;
  r.format = parse_input_format(o.format);
  r.transpose = o.transpose;
  r.storage = parse_storage_choice(o.storage);
  r.chunk_bytes = o.read_chunk_mb << 20;
  r.factor_rank = factor_rank;
  r.missing = missing;
  if (r.missing == MissingEntries::unobserved && r.storage == StorageChoice::automatic)
    r.storage = StorageChoice::sparse;
  return r;
}

GridShape requested_grid_shape(const std::string& grid, int ranks, const InputShape& shape) {
  if (grid == "auto") return choose_grid_shape(ranks, shape.rows, shape.cols);
  const GridShape requested = parse_grid_shape(grid);
  validate_grid_shape(requested, ranks, shape.rows, shape.cols);
  return requested;
}

}  // namespace nmf::detail
