#include "nmf/io/checkpoint_files.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "factor_files.hpp"
#include "nmf/io/mpi_file.hpp"
#include "nmf/mpi.hpp"
#include "verified_write.hpp"

namespace nmf {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr index_t kFingerprintBytes = 64 * 1024;

std::string hex8(std::uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(value));
  return text;
}

std::string array_file(const std::string& name) {
  return name + ".bin";
}

// The same string on every rank of `comm`: rank 0's.
std::string broadcast_string(MPI_Comm comm, std::string text) {
  long long size = static_cast<long long>(text.size());
  NMF_MPI_CHECK(MPI_Bcast(&size, 1, MPI_LONG_LONG, 0, comm));
  text.resize(static_cast<std::size_t>(size));
  if (size > 0) NMF_MPI_CHECK(MPI_Bcast(text.data(), mpi_count(size, "manifest bytes"), MPI_CHAR, 0, comm));
  return text;
}

// Makes renames and removals in `dir` durable (best effort: some network file systems refuse it).
void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Rank 0: the complete checkpoints of `family` in `dir`, newest first.
std::vector<std::string> complete_checkpoints(const std::string& dir, const std::string& family) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(family, 0) != 0 || name.find(".tmp-") != std::string::npos) continue;
    if (fs::is_regular_file(entry.path() / kManifest, ec)) names.push_back(name);
  }
  std::sort(names.rbegin(), names.rend());
  std::vector<std::string> paths;
  for (const std::string& name : names) paths.push_back((fs::path(dir) / name).string());
  return paths;
}

// Rank 0, after a checkpoint is in place: removes the older ones beyond `keep` and what crashed writes of this
// family left behind (NAME.tmp-PID directories other than ours, which is gone by now).
void remove_old_checkpoints(const std::string& dir, const std::string& family, int keep) {
  const std::vector<std::string> complete = complete_checkpoints(dir, family);
  std::error_code ec;
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 1)); i < complete.size(); ++i)
    fs::remove_all(complete[i], ec);
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(family, 0) == 0 && name.find(".tmp-") != std::string::npos) fs::remove_all(entry.path(), ec);
  }
  sync_directory(dir);
}

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  NMF_THROW(InputError, "checkpoint '" + path + "': " + why);
}

}  // namespace

std::string write_checkpoint(MPI_Comm comm, const std::string& dir, const std::string& family, const std::string& name,
                             const std::vector<CheckpointArray>& arrays, nlohmann::ordered_json manifest, int keep) {
  const bool root = rank_in(comm) == 0;
  const std::string final_path = (fs::path(dir) / name).string();
  const std::string temporary = detail::temporary_name(comm, final_path);
  collectively(comm, [&] {
    if (!root) return;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (!fs::is_directory(dir))
      NMF_THROW(OutputError, "cannot create the checkpoint directory '" + dir + "': " + ec.message());
    fs::remove_all(temporary, ec);
    if (!fs::create_directory(temporary, ec))
      NMF_THROW(OutputError, "cannot create '" + temporary + "': " + ec.message());
  });
  try {
    nlohmann::ordered_json files = nlohmann::ordered_json::object();
    for (const CheckpointArray& array : arrays) {
      const std::string path = (fs::path(temporary) / array_file(array.name)).string();
      const index_t row_bytes = array.width * static_cast<index_t>(sizeof(double));
      const detail::FileChecksum checksum = detail::write_verified_file(comm, path, [&](detail::RecordingWriter& out) {
        if (array.count > 0)
          out.write_at(array.first * row_bytes, reinterpret_cast<const char*>(array.data), array.count * row_bytes);
      });
      files[array.name] = {{"file", array_file(array.name)}, {"global_count", array.global_count},
                           {"width", array.width},           {"bytes", checksum.bytes},
                           {"algorithm", "crc32"},           {"checksum", hex8(checksum.crc32)}};
    }
    manifest["files"] = files;
    collectively(comm, [&] {
      if (!root) return;
      detail::write_text_file_durably((fs::path(temporary) / kManifest).string(), manifest.dump(1) + "\n");
      sync_directory(temporary);
      std::error_code ec;
      if (fs::exists(final_path, ec)) fs::remove_all(final_path, ec);  // the same state written again
      if (std::rename(temporary.c_str(), final_path.c_str()) != 0)
        NMF_THROW(OutputError, "cannot rename '" + temporary + "' to '" + final_path + "': " + std::strerror(errno));
      sync_directory(dir);
      remove_old_checkpoints(dir, family, keep);
    });
  } catch (const CollectiveError&) {
    std::error_code ec;
    if (root) fs::remove_all(temporary, ec);  // the previous checkpoints are untouched
    throw;
  }
  return final_path;
}

std::vector<std::string> list_checkpoints(MPI_Comm comm, const std::string& dir, const std::string& family) {
  std::string joined;
  if (rank_in(comm) == 0)
    for (const std::string& path : complete_checkpoints(dir, family)) joined += path + '\n';
  joined = broadcast_string(comm, joined);
  std::vector<std::string> paths;
  std::istringstream lines(joined);
  for (std::string line; std::getline(lines, line);) paths.push_back(line);
  return paths;
}

nlohmann::json read_checkpoint_manifest(MPI_Comm comm, const std::string& path) {
  std::string text = collectively(comm, [&] {
    if (rank_in(comm) != 0) return std::string();
    std::ifstream file(fs::path(path) / kManifest, std::ios::binary);
    if (!file) refuse(path, "cannot read its manifest.json");
    std::ostringstream content;
    content << file.rdbuf();
    return content.str();
  });
  text = broadcast_string(comm, text);
  return collectively(comm, [&] {
    nlohmann::json manifest = nlohmann::json::parse(text, nullptr, false);
    if (manifest.is_discarded() || !manifest.is_object() || !manifest.contains("files"))
      refuse(path, "manifest.json is not a checkpoint manifest");
    return manifest;
  });
}

void read_checkpoint_arrays(MPI_Comm comm, const std::string& path, const nlohmann::json& manifest,
                            const std::vector<CheckpointArray>& arrays) {
  const bool root = rank_in(comm) == 0;
  for (const CheckpointArray& array : arrays) {
    const std::string file_path = (fs::path(path) / array_file(array.name)).string();
    const index_t row_bytes = array.width * static_cast<index_t>(sizeof(double));
    const index_t expected = array.global_count * row_bytes;
    std::uint32_t recorded_crc = 0;
    collectively(comm, [&] {
      const auto entry = manifest.at("files").find(array.name);
      if (entry == manifest.at("files").end()) refuse(path, "the manifest lists no " + array.name);
      if (entry->at("bytes").get<index_t>() != expected)
        refuse(path, array_file(array.name) + " holds " + std::to_string(entry->at("bytes").get<index_t>()) +
                         " bytes, not the " + std::to_string(expected) + " this run expects");
      recorded_crc = static_cast<std::uint32_t>(std::stoul(entry->at("checksum").get<std::string>(), nullptr, 16));
    });
    MpiFile file(comm, file_path, MPI_MODE_RDONLY);
    const index_t size = file.size();
    if (size != expected)
      NMF_THROW_REPLICATED(ExitCode::bad_input, "checkpoint '" + path + "': " + array_file(array.name) + " has " +
                                                    std::to_string(size) + " bytes, the manifest says " +
                                                    std::to_string(expected) + " (truncated or replaced)");
    std::int64_t mine[3] = {array.first * row_bytes, array.count * row_bytes, 0};
    collectively(comm, [&] {
      if (array.count == 0) return;
      file.read_at(mine[0], reinterpret_cast<char*>(array.data), mine[1]);
      mine[2] = detail::crc32_of(reinterpret_cast<const char*>(array.data), mine[1]);
    });
    // The ranks' CRCs combined in file order: the file's, without any rank reading all of it.
    std::vector<std::int64_t> all(root ? 3 * static_cast<std::size_t>(size_of(comm)) : 0);
    NMF_MPI_CHECK(MPI_Gather(mine, 3, MPI_INT64_T, all.data(), 3, MPI_INT64_T, 0, comm));
    collectively(comm, [&] {
      if (!root) return;
      std::vector<std::array<std::int64_t, 3>> ranges;
      for (std::size_t i = 0; i + 2 < all.size(); i += 3)
        if (all[i + 1] > 0) ranges.push_back({all[i], all[i + 1], all[i + 2]});
      std::sort(ranges.begin(), ranges.end());
      uLong crc = crc32_z(0L, Z_NULL, 0);
      index_t covered = 0;
      for (const auto& r : ranges) {
        if (r[0] != covered) refuse(path, "the ranks' slices of " + array.name + " do not tile the file");
        crc = crc32_combine(crc, static_cast<uLong>(r[2]), static_cast<z_off_t>(r[1]));
        covered += r[1];
      }
      if (covered != expected) refuse(path, "the ranks' slices of " + array.name + " do not cover the file");
      if (static_cast<std::uint32_t>(crc) != recorded_crc)
        refuse(path, array_file(array.name) + " does not match its checksum (CRC-32 " +
                         hex8(static_cast<uint32_t>(crc)) + ", the manifest says " + hex8(recorded_crc) +
                         "): it is corrupted");
    });
    file.close();
  }
}

std::string input_fingerprint(MPI_Comm comm, const std::string& path) {
  if (path.empty()) return "builtin";
  std::string text = collectively(comm, [&] {
    if (rank_in(comm) != 0) return std::string();
    std::ifstream file(path, std::ios::binary);
    if (!file) NMF_THROW(InputError, "cannot read '" + path + "' to fingerprint it for the checkpoint");
    std::string head(static_cast<std::size_t>(kFingerprintBytes), '\0');
    file.read(head.data(), kFingerprintBytes);
    head.resize(static_cast<std::size_t>(file.gcount()));
    std::error_code ec;
    const auto bytes = fs::file_size(path, ec);
    return std::to_string(static_cast<unsigned long long>(bytes)) + " bytes, head crc32 " +
           hex8(detail::crc32_of(head.data(), static_cast<index_t>(head.size())));
  });
  return broadcast_string(comm, text);
}

std::string doubles_to_hex(const std::vector<double>& values) {
  std::string text;
  char digits[17];
  for (double v : values) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(bits));
    text += digits;
  }
  return text;
}

std::vector<double> doubles_from_hex(const std::string& text) {
  NMF_REQUIRE(text.size() % 16 == 0, InputError, "bad hex doubles in a checkpoint manifest");
  std::vector<double> values(text.size() / 16);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint64_t bits = std::stoull(text.substr(16 * i, 16), nullptr, 16);
    std::memcpy(&values[i], &bits, sizeof bits);
  }
  return values;
}

}  // namespace nmf
