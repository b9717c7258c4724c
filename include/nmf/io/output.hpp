// Writing results: the output formats and names, and the check of an output prefix. The files themselves
// are written by nmf/io/output_set.hpp: all ranks at once with MPI-IO, each its own slice at a computed
// offset (no factor is gathered on one rank), under temporary names, verified, and committed as a set.
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

}  // namespace nmf
