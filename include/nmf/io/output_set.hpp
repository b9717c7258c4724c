// The outputs of one run, committed as a set. The README promises that a file that exists is whole;
// OutputSet extends that to the set: after a run, either every output of the prefix is from that run
// (A, S, any further files, and last the summary, which records each file's size and CRC-32) or every
// output is as it was before the run.
//
// How:
//  - A lock: rank 0 of the run holds an advisory lock (flock) on PREFIX.lock from the start of the run to
//    its end, so a second run on the same prefix is refused at once, before it reads or computes anything
//    (rather than after hours of work, or by silently interleaving its files with the first run's). The
//    lock file is removed when the run ends; a run killed with SIGKILL leaves it behind, unlocked, and the
//    next run takes it over. flock is advisory: it protects runs of nmf_mpi from each other, not from
//    other programs writing the same names. It works on local file systems and on NFS (where Linux maps it
//    to a POSIX lock); a file system that refuses locks makes the run fail with the system's reason.
//  - Temporary names: every file is written as NAME.tmp-PID, each write's byte count checked on every
//    rank, the bytes flushed to disk (fsync) and the ranks' pieces checked to tile the file.
//  - The commit: the old summary is moved aside first (so no summary ever sits beside a half-replaced
//    set), then each file is renamed into place (its old version moved aside), and the new summary last.
//    If any step fails, the steps done are undone and the old files are back under their names. After a
//    crash in the middle of a commit (power loss, SIGKILL) there is no summary, and the old versions are
//    kept as NAME.old-PID.
//  - Leftovers: a run killed before its commit leaves its NAME.tmp-PID files behind. After its own commit, a run
//    removes, for each file it committed, the files named exactly NAME.tmp-DIGITS last modified before it
//    started: no live run writes them (they are this prefix's names, and the lock keeps other runs of the
//    prefix out), and the age keeps away anything another program may be writing now. NAME.old-PID files (old
//    versions kept after a crash in the middle of a commit) are never removed.
//  - Checksums: each rank computes the CRC-32 (zlib) of the bytes it wrote; rank 0 of the writers
//    combines them in file order (crc32_combine), so no rank reads a factor back. files_json() gives them
//    for the summary's "files" object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "nmf/distribution/layout.hpp"
#include "nmf/factors.hpp"
#include "nmf/io/output.hpp"

namespace nmf {

namespace detail {
struct FileChecksum;
}

// One file of the set, as written.
struct WrittenFile {
  std::string role;         // "A", "S", "rank_selection", ...: its key in the summary's "files"
  std::string path;         // its final name
  index_t bytes = 0;        // size in bytes
  std::uint32_t crc32 = 0;  // CRC-32 of all its bytes, as zlib.crc32 or `gzip`'s trailer computes it
};

class OutputSet {
 public:
  // Collective over `comm` (every rank of the run). Checks that the prefix's directory exists and
  // accepts new files, then takes the prefix lock. Throws CollectiveError (output_error) when it cannot,
  // or when another run holds the lock (the message names the lock file and its holder).
  OutputSet(MPI_Comm comm, const std::string& prefix, OutputFormat format);
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;
  // Local: removes every temporary file not committed, and releases the lock (after the commit, or
  // after a failure, whichever ends the run).
  ~OutputSet();

  const OutputPaths& paths() const { return paths_; }

  // Collective over grid.comm() (the ranks that write: the whole run, or the subgroup that holds the
  // result): writes A and S under temporary names. A is written as an n x k matrix; in .npy, A is C order
  // (rows contiguous) and S Fortran order (columns contiguous), so each rank's slice is one contiguous range
  // of the file. Throws CollectiveError (output_error).
  void write_factors(const ProcessGrid& grid, const Layout& layout, const Factors& factors);

  // The same for A alone (n x k, from this rank's slice a_t, k x rows): the fold-in, whose S is fixed.
  void write_a(const ProcessGrid& grid, const Layout& layout, const DenseMatrix& a_t);

  // Collective over `writers` (the same ranks as write_factors): writes `text`, the same on every rank,
  // to `path` under a temporary name (rank 0 writes it). `role` is its key in files_json().
  void add_text_file(MPI_Comm writers, const std::string& role, const std::string& path, const std::string& text);

  // Collective over `writers`: writes a text file of which each rank holds one piece (`piece`, possibly
  // empty); the pieces of ranks 0, 1, ... in order make the file. Each rank writes its own piece with MPI-IO
  // at the offset given by an exclusive scan of the piece sizes, verified like the factors, so no rank ever
  // holds the whole text.
  void add_text_pieces(MPI_Comm writers, const std::string& role, const std::string& path, const std::string& piece);

  // The files written so far (on every rank of the writers), in commit order.
  const std::vector<WrittenFile>& files() const { return written_; }
  // The same as a JSON object for the summary: {"A": {"path": ..., "bytes": ..., "algorithm": "crc32",
  // "checksum": "8 hex digits"}, ...}.
  std::string files_json() const;

  // Collective over `writers`: writes the summary under a temporary name, then renames every file into
  // place with the summary last (see above). On failure nothing of the prefix has changed, and every
  // rank throws CollectiveError (output_error) naming the file and the reason.
  void commit(MPI_Comm writers, const std::string& summary_text);

 private:
  struct Staged {
    std::string temporary, final_name;
  };
  class PrefixLock;

  void stage(const std::string& role, const std::string& path, const detail::FileChecksum& checksum,
             const std::string& temporary);
  // Rank 0 of the writers: the renames of the commit, undone on failure.
  void replace_all(const std::vector<Staged>& order) const;
  // Rank 0 of the writers, after the commit: the leftovers of killed runs (see above). Best effort, silent.
  void remove_stale_temporaries(const std::vector<Staged>& committed) const noexcept;

  std::string prefix_;
  OutputPaths paths_;
  OutputFormat format_;
  std::filesystem::file_time_type started_;  // before the lock was taken
  std::unique_ptr<PrefixLock> lock_;         // on rank 0 of the run
  bool removes_temporaries_ = false;         // rank 0 of the writers
  bool committed_ = false;
  std::vector<Staged> staged_;        // written and verified, in commit order
  std::vector<std::string> pending_;  // temporaries being written
  std::vector<WrittenFile> written_;  // the same order
};

}  // namespace nmf
