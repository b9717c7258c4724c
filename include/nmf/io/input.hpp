// Reading X in parallel. Opening an input reads and shares its header (one rank reads, all learn the
// shape), so the caller can choose the process grid before any data moves; `distribute` then reads
// the data itself, every rank its own part of the file, and leaves each rank holding only its block.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nmf/distribution/dist_matrix.hpp"
#include "nmf/distribution/grid.hpp"

namespace nmf {

enum class InputFormat { automatic, mtx, npy, ratings };
enum class StorageChoice { automatic, dense, sparse };
// --missing: what the entries a file does not list are. unobserved: unknown (the recommender mode, whose loss
// covers the listed entries only; rating values may then be negative, and X is stored sparse); zero: zeros
// (plain NMF); automatic: unobserved for rating files, zero for the others.
enum class MissingEntries { automatic, unobserved, zero };

InputFormat parse_input_format(const std::string& text);
StorageChoice parse_storage_choice(const std::string& text);
MissingEntries parse_missing_entries(const std::string& text);

struct ReadOptions {
  std::string path;
  InputFormat format = InputFormat::automatic;
  bool transpose = false;  // factor X^T: rows and columns swap as entries are read
  StorageChoice storage = StorageChoice::automatic;
  // Bytes of the file one rank reads and parses at a time: the bound on the read buffers. 0: the format's
  // default, 16 MiB for Matrix Market and .npy, 4 MiB for rating files (open_input: a round of a rating file
  // notes its ids in hash maps and routes its entries; smaller rounds keep the maps in cache and bound the routing
  // buffers -- on 10^7 ratings 4 MiB read in 20 + 21 s of CPU at P = 1 instead of 24 + 27 s, and cut the largest
  // rank's peak at P = 4 from 377 to 318 MiB).
  index_t chunk_bytes = 0;
  // Automatic storage keeps coordinate input dense from this density up.
  double dense_threshold = 0.3;
  // Text input: the bytes of parsed entries a rank may keep from its first pass over the file for the second
  // (routing), instead of parsing the text again. Negative: a quarter of the rank's memory budget. Tests set
  // 0 (always parse twice) or a few hundred bytes (keep, then give up part-way).
  double kept_entries_bytes = -1;
  // The largest k the run will fit. Before allocating its block, each rank checks that the block and
  // its slices of A and S for this k fit in the memory it can use (0: the block alone).
  index_t factor_rank = 0;
  MissingEntries missing = MissingEntries::automatic;
};

// The matrix as it will be factored (after --transpose).
struct InputShape {
  index_t rows = 0;
  index_t cols = 0;
  index_t entries = 0;  // declared stored entries (before symmetric expansion and merging duplicates)
  bool dense_source = false;
};

// For inputs whose rows and columns are named by ids (rating files): this rank's piece of each id map, one id
// per line. The pieces of ranks 0, 1, ... of the communicator that opened the input, concatenated in rank
// order, are the whole map: line i (0-based) holds the id of row (column) i of X as factored.
struct IdMaps {
  std::string rows, cols;
};

class InputSource {
 public:
  virtual ~InputSource() = default;
  virtual const InputShape& shape() const = 0;
  // "file.mtx (Matrix Market coordinate real general)" or similar, for the log and the summary.
  virtual std::string description() const = 0;
  // Collective over grid.comm(): reads the data and returns this rank's block of X. Bad data raises
  // InputError "path:line: problem" on every rank, after the ranks agree; so does a block that would not
  // fit in the memory a rank can use (checked before it is allocated).
  virtual DistMatrix distribute(const ProcessGrid& grid) = 0;
  // The id maps, for inputs that have them (nullptr otherwise).
  virtual const IdMaps* id_maps() const { return nullptr; }
  // --test: reads a second file of the same kind holding held-out ratings. Its ids are mapped through this
  // input's numbering, an id this input never saw becoming index -1, and each rating goes to the rank owning its
  // block in `layout` (a rating with an unseen row to row block 0, one with an unseen column to column block 0).
  // Collective over grid.comm(). Returns this rank's ratings with block-local indices (-1 kept); a pair listed
  // twice keeps its last line, with a warning. Inputs without id maps throw UsageError.
  virtual std::vector<Triplet> read_test_ratings(const ProcessGrid& grid, const Layout& layout,
                                                 const std::string& path);
};

// Collective over `comm`: opens a Matrix Market or .npy file and reads its header. A ratings file is read
// whole here (validated, its ids numbered), since its shape is the number of distinct ids.
std::unique_ptr<InputSource> open_input(MPI_Comm comm, const ReadOptions& options);

// A small dense matrix that every rank holds in full (the built-in example, tests); each rank keeps
// only its block.
std::unique_ptr<InputSource> dense_in_memory(DenseMatrix full, std::string description, bool transpose);

// The 12 x 10 example matrix of the origin notebook (rank 3, non-negative, with zero rows and columns).
DenseMatrix builtin_example_matrix();

// Used by the readers: the storage a matrix gets, and its block boundaries on the grid.
Storage choose_storage(const InputShape& shape, const ReadOptions& options);

}  // namespace nmf
