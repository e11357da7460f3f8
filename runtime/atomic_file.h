// Atomic file writes: a file is written to a temporary name next to its target, flushed to
// disk (fsync), renamed over the target and the directory entry flushed, so that a reader
// sees either the previous file or the complete new one, never a torn write. An AtomicFile
// destroyed before commit() (an exception, a crash handled by unwinding) removes its
// temporary file and leaves the target untouched.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace neft {

class AtomicFile {
 public:
  // Creates "<path>.tmp.<pid>.<n>" in the target's directory (which must exist); a stale
  // one left by a crashed process that had the same pid is overwritten.
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  size_t bytes_written() const { return bytes_written_; }

  void write(const void* data, size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // fsync, rename over the target, fsync the directory. No writes after this.
  void commit();

 private:
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  size_t bytes_written_ = 0;
  bool committed_ = false;
};

// The whole file in one atomic write.
void write_file_atomic(const std::string& path, std::string_view contents);

// What every temporary directory's suffix starts with: ".tmp-<pid>" and the like.
inline constexpr const char* kTempDirectoryMarker = ".tmp-";

// A name this file's writers give their temporary files and directories: "x.tmp.<pid>.<n>"
// or anything with ".tmp-" in it.
bool is_temp_leftover(const std::string& name);
// Removes the temporaries that killed writers left in `dir` (not below it). Only for a
// directory no other process is writing into, such as a run's --out at its start.
void remove_temp_leftovers(const std::string& dir);

// A whole directory in one atomic step: `write_files` fills the empty temporary sibling
// "<target><temp_suffix>", whose files and directories are then flushed to disk, and it is
// renamed into place (an existing target is moved aside first and removed afterwards), so
// that at every instant the target is either absent or whole. If
// write_files throws, the temporary directory is removed and the target left as it was.
// Callers choose the suffix, which starts with kTempDirectoryMarker, so that a crashed save's
// leftover is recognised, ignored and later removed.
void write_directory_atomic(const std::string& target,
                            const std::function<void(const std::string& dir)>& write_files,
                            const std::string& temp_suffix);

}  // namespace neft
