#include "nmf/io/output_set.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "factor_files.hpp"

namespace nmf {

namespace {

std::string system_reason() {
  return std::strerror(errno);
}

std::string hex8(std::uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(value));
  return text;
}

std::string host_name() {
  char name[256] = {};
  return ::gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string("?");
}

// The undo log of a commit: every file moved aside and every new file put in place, so that a failure
// at any step can put every old file back under its name.
class ReplacementJournal {
 public:
  explicit ReplacementJournal(std::string backup_suffix) : backup_suffix_(std::move(backup_suffix)) {}

  // Moves the file now at `path`, if there is one, to its backup name.
  void move_aside(const std::string& path) {
    Step step{path, path + backup_suffix_, false, false};
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0) {
      if (std::rename(path.c_str(), step.backup.c_str()) != 0)
        NMF_THROW(OutputError, "cannot move '" + path + "' aside to replace it: " + system_reason());
      step.had_old = true;
    } else if (errno != ENOENT) {
      NMF_THROW(OutputError, "cannot replace '" + path + "': " + system_reason());
    }
    steps_.push_back(step);
  }

  // Renames `temporary` to `path`, the old file at `path` moved aside first.
  void put_in_place(const std::string& temporary, const std::string& path) {
    move_aside(path);
    if (std::rename(temporary.c_str(), path.c_str()) != 0)
      NMF_THROW(OutputError, "cannot rename '" + temporary + "' to '" + path + "': " + system_reason());
    steps_.back().placed_new = true;
  }

  // Undoes every step, last first. Returns the backups it could not move back (normally none).
  std::vector<std::string> undo() noexcept {
    std::vector<std::string> stranded;
    for (auto step = steps_.rbegin(); step != steps_.rend(); ++step) {
      if (step->had_old) {
        if (std::rename(step->backup.c_str(), step->path.c_str()) != 0) stranded.push_back(step->backup);
      } else if (step->placed_new) {
        ::unlink(step->path.c_str());
      }
    }
    steps_.clear();
    return stranded;
  }

  void discard_backups() noexcept {
    for (const Step& step : steps_)
      if (step.had_old) ::unlink(step.backup.c_str());
    steps_.clear();
  }

 private:
  struct Step {
    std::string path, backup;
    bool had_old, placed_new;
  };
  std::string backup_suffix_;
  std::vector<Step> steps_;
};

// Whether `name` is `file` + ".tmp-" + a process id, as detail::temporary_name names the temporaries.
bool is_temporary_name_of(const std::string& name, const std::string& file) {
  const std::string stem = file + ".tmp-";
  return name.size() > stem.size() && name.compare(0, stem.size(), stem) == 0 &&
         std::all_of(name.begin() + static_cast<std::ptrdiff_t>(stem.size()), name.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; });
}

// A file can only be replaced by renaming over it if it is not a directory; checking all of them first
// keeps the common mistake from ever reaching the undo path.
void check_replaceable(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(std::filesystem::symlink_status(path, ec)))
    NMF_THROW(OutputError, "cannot replace '" + path + "' with this run's output: it is a directory");
}

// Makes the renames durable: without it a crash soon after the commit could lose them on some file
// systems. Best effort: a directory that cannot be synced (some network file systems) does not undo a
// commit that has happened.
void sync_directory_of(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const int fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

// The advisory lock on PREFIX.lock (flock), held by rank 0 of the run. A run that ends removes the file
// while still holding the lock; a run that opened the file just before that finds, once it has the lock,
// that the file it locked is no longer the one at the path, and tries again with the new file.
class OutputSet::PrefixLock {
 public:
  PrefixLock(const std::string& prefix, std::string path) : path_(std::move(path)) {
    constexpr int kAttempts = 100;
    for (int attempt = 0; fd_ < 0; ++attempt) {
      if (attempt == kAttempts)
        NMF_THROW(OutputError, "cannot lock '" + path_ + "': it is removed and recreated too often");
      fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd_ < 0) NMF_THROW(OutputError, "cannot create the lock file '" + path_ + "': " + system_reason());
      if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        const std::string holder = read_holder();
        close_quietly();
        if (error == EWOULDBLOCK)
          NMF_THROW(OutputError, "another run is writing outputs with prefix '" + prefix + "' (it holds the lock '" +
                                     path_ + "'" + (holder.empty() ? "" : ", " + holder) +
                                     "); wait for it to end or choose another -o");
        NMF_THROW(OutputError, "cannot lock '" + path_ + "': " + std::strerror(error));
      }
      if (!still_at_path()) close_quietly();
    }
    record_holder();
  }
  PrefixLock(const PrefixLock&) = delete;
  PrefixLock& operator=(const PrefixLock&) = delete;
  ~PrefixLock() {
    ::unlink(path_.c_str());  // while still holding the lock: see the class comment
    close_quietly();
  }

 private:
  bool still_at_path() const {
    struct stat locked {
    }, named{};
    return ::fstat(fd_, &locked) == 0 && ::stat(path_.c_str(), &named) == 0 && locked.st_dev == named.st_dev &&
           locked.st_ino == named.st_ino;
  }
  // Who holds the lock, for the message of a run that is refused. Informative only: errors are ignored.
  void record_holder() const {
    const std::string text = "pid " + std::to_string(static_cast<long long>(::getpid())) + " on " + host_name();
    if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, text.data(), text.size(), 0) < 0) return;
  }
  std::string read_holder() const {
    char text[300] = {};
    const ssize_t got = ::pread(fd_, text, sizeof text - 1, 0);
    return got > 0 ? std::string(text, static_cast<std::size_t>(got)) : std::string();
  }
  void close_quietly() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string path_;
  int fd_ = -1;
};

OutputSet::OutputSet(MPI_Comm comm, const std::string& prefix, OutputFormat format)
    : prefix_(prefix),
      paths_(output_paths(prefix, format)),
      format_(format),
      started_(std::filesystem::file_time_type::clock::now()) {
  check_output_prefix(comm, prefix);
  const bool root = rank_in(comm) == 0;
  collectively(comm, [&] {
    if (root) lock_ = std::make_unique<PrefixLock>(prefix, prefix + ".lock");
  });
}

OutputSet::~OutputSet() {
  if (!removes_temporaries_ || committed_) return;
  for (const Staged& file : staged_) ::unlink(file.temporary.c_str());
  for (const std::string& temporary : pending_) ::unlink(temporary.c_str());
}

void OutputSet::write_factors(const ProcessGrid& grid, const Layout& layout, const Factors& factors) {
  const MPI_Comm writers = grid.comm();
  removes_temporaries_ = grid.rank() == 0;
  const std::string a_temporary = detail::temporary_name(writers, paths_.a);
  const std::string s_temporary = detail::temporary_name(writers, paths_.s);
  pending_ = {a_temporary, s_temporary};  // removed by the destructor if the writes fail
  const detail::FactorChecksums checksums =
      detail::write_factor_files(grid, layout, factors, format_, a_temporary, s_temporary);
  pending_.clear();
  stage("A", paths_.a, checksums.a, a_temporary);
  stage("S", paths_.s, checksums.s, s_temporary);
}

void OutputSet::write_a(const ProcessGrid& grid, const Layout& layout, const DenseMatrix& a_t) {
  removes_temporaries_ = grid.rank() == 0;
  const std::string a_temporary = detail::temporary_name(grid.comm(), paths_.a);
  pending_ = {a_temporary};  // removed by the destructor if the write fails
  const detail::FileChecksum checksum = detail::write_a_file(grid, layout, a_t, format_, a_temporary);
  pending_.clear();
  stage("A", paths_.a, checksum, a_temporary);
}

void OutputSet::add_text_file(MPI_Comm writers, const std::string& role, const std::string& path,
                              const std::string& text) {
  const bool root = rank_in(writers) == 0;
  removes_temporaries_ = root;
  const std::string temporary = detail::temporary_name(writers, path);
  pending_ = {temporary};
  detail::FileChecksum checksum;
  collectively(writers, [&] {
    if (root) checksum = detail::write_text_file_durably(temporary, text);
  });
  NMF_MPI_CHECK(MPI_Bcast(&checksum.bytes, 1, MPI_INT64_T, 0, writers));
  NMF_MPI_CHECK(MPI_Bcast(&checksum.crc32, 1, MPI_UINT32_T, 0, writers));
  pending_.clear();
  stage(role, path, checksum, temporary);
}

void OutputSet::add_text_pieces(MPI_Comm writers, const std::string& role, const std::string& path,
                                const std::string& piece) {
  removes_temporaries_ = rank_in(writers) == 0;
  const std::string temporary = detail::temporary_name(writers, path);
  pending_ = {temporary};
  index_t offset = 0, bytes = static_cast<index_t>(piece.size());
  NMF_MPI_CHECK(MPI_Exscan(&bytes, &offset, 1, MPI_INT64_T, MPI_SUM, writers));
  if (rank_in(writers) == 0) offset = 0;  // MPI leaves rank 0's result undefined
  const detail::FileChecksum checksum =
      detail::write_verified_file(writers, temporary, [&](detail::RecordingWriter& out) {
        if (bytes > 0) out.write_at(offset, piece.data(), bytes);
      });
  pending_.clear();
  stage(role, path, checksum, temporary);
}

void OutputSet::stage(const std::string& role, const std::string& path, const detail::FileChecksum& checksum,
                      const std::string& temporary) {
  staged_.push_back({temporary, path});
  written_.push_back({role, path, checksum.bytes, checksum.crc32});
}

std::string OutputSet::files_json() const {
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  for (const WrittenFile& file : written_)
    files[file.role] = {
        {"path", file.path}, {"bytes", file.bytes}, {"algorithm", "crc32"}, {"checksum", hex8(file.crc32)}};
  return files.dump();
}

void OutputSet::commit(MPI_Comm writers, const std::string& summary_text) {
  const bool root = rank_in(writers) == 0;
  removes_temporaries_ = root;
  const std::string summary_temporary = detail::temporary_name(writers, paths_.summary);
  pending_ = {summary_temporary};
  collectively(writers, [&] {
    if (!root) return;
    detail::write_text_file_durably(summary_temporary, summary_text);
    std::vector<Staged> order = staged_;
    order.push_back({summary_temporary, paths_.summary});
    replace_all(order);
    remove_stale_temporaries(order);
  });
  committed_ = true;
}

void OutputSet::replace_all(const std::vector<Staged>& order) const {
  for (const Staged& file : order) check_replaceable(file.final_name);
  ReplacementJournal journal(".old-" + std::to_string(static_cast<long long>(::getpid())));
  try {
    journal.move_aside(paths_.summary);  // first: no summary while the set is half replaced
    for (const Staged& file : order) journal.put_in_place(file.temporary, file.final_name);
  } catch (const Error& e) {
    const std::vector<std::string> stranded = journal.undo();
    std::string message = std::string(e.what()) + "; no output of '" + prefix_ + "' was replaced";
    if (!stranded.empty()) {
      message = std::string(e.what()) + "; some previous outputs could not be moved back and are kept as:";
      for (const std::string& backup : stranded) message += " " + backup;
    }
    NMF_THROW(OutputError, message);
  }
  sync_directory_of(paths_.summary);
  journal.discard_backups();
}

void OutputSet::remove_stale_temporaries(const std::vector<Staged>& committed) const noexcept {
  namespace fs = std::filesystem;
  try {
    std::error_code ec;
    const fs::path directory = fs::path(paths_.summary).parent_path();
    for (const fs::directory_entry& entry : fs::directory_iterator(directory.empty() ? "." : directory, ec)) {
      const std::string name = entry.path().filename().string();
      const bool ours = std::any_of(committed.begin(), committed.end(), [&](const Staged& file) {
        const fs::path final_name(file.final_name);
        return final_name.parent_path() == directory && is_temporary_name_of(name, final_name.filename().string());
      });
      if (ours && entry.is_regular_file(ec) && entry.last_write_time(ec) < started_ && !ec) fs::remove(entry, ec);
    }
  } catch (...) {  // a listing that fails leaves the leftovers where they are
  }
}

}  // namespace nmf
