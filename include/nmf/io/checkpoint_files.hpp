// The files of a checkpoint: a directory holding one file per distributed array and a manifest.
//
// Layout. Each array (A, S, and whatever else a loop carries: the recommender's biases) is ONE file of raw
// little-endian doubles in global-index order: global index i (a row of A, a column of S, one bias) is `width`
// contiguous doubles at byte offset i * width * 8. Every rank writes its own slice at its global offset
// (MPI-IO), so any number of ranks on any grid can read its own slice back: a different P only changes which
// byte ranges each rank reads. The manifest (manifest.json, written last by rank 0) names each file with its
// size and CRC-32 (zlib, as the summary of the outputs; combined from the ranks' CRCs with crc32_combine, so
// no rank reads a file back), and whatever the caller records (iteration, options, history, ...).
//
// Writing. Into DIR/NAME.tmp-PID, every file flushed to disk (fsync), the manifest last, then the directory is
// renamed to DIR/NAME and DIR is flushed. A crash at any point leaves either no DIR/NAME or a complete one; the
// older checkpoints are removed only after the new one is in place.
//
// Reading. The manifest is read by rank 0 and broadcast; every rank reads its slice of each file, and the
// ranks' CRCs are combined in file order and compared with the manifest's, with each file's size: a truncated
// or corrupted checkpoint is refused with a message naming the file.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nmf/types.hpp"

namespace nmf {

// This rank's slice of one distributed array: global indices [first, first + count) of `global_count`, each
// `width` doubles, contiguous at `data` (count * width doubles; for reading, already sized by the caller).
struct CheckpointArray {
  std::string name;  // the file's name in the checkpoint directory (letters, digits, '_')
  index_t global_count = 0;
  index_t width = 1;
  index_t first = 0;
  index_t count = 0;
  double* data = nullptr;
};

// Collective over `comm`: writes `arrays` and the manifest (`manifest` with a "files" object added) as
// checkpoint `name` in `dir` (created if missing), then removes the older checkpoints of `dir` whose names
// start with `family` so that `keep` remain (the new one included). Returns the checkpoint's path. Throws
// CollectiveError (output_error) naming the file and the reason; the previous checkpoints are then intact.
std::string write_checkpoint(MPI_Comm comm, const std::string& dir, const std::string& family, const std::string& name,
                             const std::vector<CheckpointArray>& arrays, nlohmann::ordered_json manifest, int keep);

// Collective: the complete checkpoints in `dir` whose names start with `family` (a manifest exists), newest
// (largest name) first, as paths. An absent directory has none.
std::vector<std::string> list_checkpoints(MPI_Comm comm, const std::string& dir, const std::string& family);

// Collective: the manifest of the checkpoint at `path`, on every rank. Throws CollectiveError (bad_input)
// if it is missing or not valid JSON.
nlohmann::json read_checkpoint_manifest(MPI_Comm comm, const std::string& path);

// Collective: reads this rank's slice of every array from the checkpoint at `path` into `arrays` (data sized
// by the caller), checking each file's size (global_count * width * 8) and CRC-32 against `manifest`. Throws
// CollectiveError (bad_input) naming the file when one is missing, truncated or corrupted.
void read_checkpoint_arrays(MPI_Comm comm, const std::string& path, const nlohmann::json& manifest,
                            const std::vector<CheckpointArray>& arrays);

// Collective: a fingerprint of the input file (CRC-32 of its first 64 KiB, hex, and its size), read by rank 0,
// the same on every rank: enough to tell one input from another without reading it all. "builtin" for ''.
std::string input_fingerprint(MPI_Comm comm, const std::string& path);

// Doubles as text that JSON carries exactly (NaN and infinities included): 16 hex digits of the bit pattern each.
std::string doubles_to_hex(const std::vector<double>& values);
std::vector<double> doubles_from_hex(const std::string& text);

}  // namespace nmf
