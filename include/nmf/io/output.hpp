// Writing results. Factors are written by all ranks at once with MPI-IO, each rank its own slice at a
// computed offset, so no factor is ever gathered on one rank. Every file is written under a temporary
// name, its byte counts checked and its data flushed to disk, and renamed when complete, so a reader never
// sees half a file. A run's outputs as a set (with the prefix lock and checksums): nmf/io/output_set.hpp.
#pragma once

#include <string>

#include "nmf/distribution/layout.hpp"
#include "nmf/factors.hpp"

namespace nmf {

enum class OutputFormat { mtx, npy };
OutputFormat parse_output_format(const std::string& text);

struct OutputPaths {
  std::string a;        // PREFIX_A.mtx or .npy: n x k
  std::string s;        // PREFIX_S.mtx or .npy: k x m
  std::string summary;  // PREFIX_summary.json
};
OutputPaths output_paths(const std::string& prefix, OutputFormat format);

// Collective: rank 0 checks that the prefix's directory exists and accepts a new file (by creating and
// removing a probe), and the ranks agree, so a bad -o fails before any work is done.
void check_output_prefix(MPI_Comm comm, const std::string& prefix);

// Collective over grid.comm(). A as an n x k matrix; in .npy, A is C order (rows contiguous) and S is
// Fortran order (columns contiguous), so each rank's slice is one contiguous range of the file.
void write_factors(const ProcessGrid& grid, const Layout& layout, const Factors& factors, const OutputPaths& paths,
                   OutputFormat format);

// Local: writes `text` to path.tmp-PID (every write, the fsync and the close checked) and renames it to
// `path`. Throws OutputError; the temporary file is removed on failure.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace nmf
