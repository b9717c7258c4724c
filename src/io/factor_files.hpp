// Internal to src/io: the factor files, written in place (no temporary name, no rename: the callers,
// OutputSet and write_factors, decide the names and when files move into place).
#pragma once

#include <string>

#include "nmf/distribution/layout.hpp"
#include "nmf/factors.hpp"
#include "nmf/io/output.hpp"
#include "verified_write.hpp"

namespace nmf::detail {

struct FactorChecksums {
  FileChecksum a, s;
};

// Collective over grid.comm(): writes A (n x k) to `a_path` and S (k x m) to `s_path`, verified (see
// write_verified_file). Returns both files' sizes and CRC-32 on every rank.
FactorChecksums write_factor_files(const ProcessGrid& grid, const Layout& layout, const Factors& factors,
                                   OutputFormat format, const std::string& a_path, const std::string& s_path);

// Collective over grid.comm(): writes A alone (n x k, from this rank's slice a_t) to `a_path`, verified.
FileChecksum write_a_file(const ProcessGrid& grid, const Layout& layout, const DenseMatrix& a_t, OutputFormat format,
                          const std::string& a_path);

// Collective: the temporary name of `path` for this run, the same on every rank of `comm`.
std::string temporary_name(MPI_Comm comm, const std::string& path);

}  // namespace nmf::detail
