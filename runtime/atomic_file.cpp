#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "runtime/crash_point.h"
#include "runtime/error.h"

namespace neft {

namespace {

std::string temp_name_for(const std::string& path) {
  // The pid keeps ranks sharing a directory apart; the counter keeps threads apart.
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// A rename is durable only once the directory holding the new entry is flushed.
void fsync_directory_of(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open directory ", dir, " to flush it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems (and network mounts) cannot fsync a directory; the rename stands.
  if (rc != 0 && err != EINVAL && err != EROFS)
    fail("cannot flush directory ", dir, ": ", std::strerror(err));
}

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path), temp_path_(temp_name_for(path)) {
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create ", temp_path_, " to write ", path_, ": ", std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t bytes) {
  NEFT_CHECK(fd_ >= 0 && !committed_, "write to ", path_, " after commit");
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    // Linux moves at most ~2 GiB per call; larger tensors take several.
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write ", path_, ": ", std::strerror(errno));
    }
    p += n;
    bytes -= size_t(n);
    bytes_written_ += size_t(n);
  }
}

void AtomicFile::commit() {
  NEFT_CHECK(fd_ >= 0 && !committed_, "commit of ", path_, " twice");
  if (::fsync(fd_) != 0) fail("cannot flush ", path_, ": ", std::strerror(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail("cannot close ", path_, ": ", std::strerror(errno));
  crash_point("file written, not yet renamed");
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    fail("cannot rename ", temp_path_, " to ", path_, ": ", std::strerror(errno));
  committed_ = true;
  crash_point("file renamed into place");
  fsync_directory_of(path_);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

namespace {
namespace fs = std::filesystem;

// Flushes a file or directory to disk. A directory must be flushed for the entries created
// or renamed in it to survive a power loss.
void fsync_path(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) fail("cannot open ", path.string(), " to flush it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot fsync a directory; what was written still stands.
  if (rc != 0 && !(directory && (err == EINVAL || err == EROFS)))
    fail("cannot flush ", path.string(), ": ", std::strerror(err));
}

void fsync_tree(const fs::path& root) {
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_directory())
      fsync_path(entry.path(), true);
    else if (entry.is_regular_file())
      fsync_path(entry.path(), false);
  }
  fsync_path(root, true);
}

void rename_or_fail(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) fail("cannot rename ", from.string(), " to ", to.string(), ": ", ec.message());
}

// Best effort: a directory that cannot be removed costs disk space, not correctness.
void remove_quietly(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}
}  // namespace

bool is_temp_leftover(const std::string& name) {
  if (name.find(kTempDirectoryMarker) != std::string::npos) return true;
  // AtomicFile's "<target>.tmp.<pid>.<n>".
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos) return false;
  const std::string tail = name.substr(at + 5);
  const size_t dot = tail.find('.');
  const auto digits = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  return dot != std::string::npos && digits(tail.substr(0, dot)) && digits(tail.substr(dot + 1));
}

void remove_temp_leftovers(const std::string& dir) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec))
    if (is_temp_leftover(entry.path().filename().string())) remove_quietly(entry.path());
}

void write_directory_atomic(const std::string& target_path,
                            const std::function<void(const std::string& dir)>& write_files,
                            const std::string& temp_suffix) {
  const fs::path target = fs::path(target_path).lexically_normal();
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) fail("cannot create directory ", parent.string(), ": ", ec.message());
  NEFT_CHECK(temp_suffix.starts_with(kTempDirectoryMarker), "temporary directory suffix '",
             temp_suffix, "' must start with ", kTempDirectoryMarker);
  const fs::path temp = parent / (target.filename().string() + temp_suffix);
  remove_quietly(temp);  // left by a crashed process that had the same suffix
  fs::create_directory(temp, ec);
  if (ec) fail("cannot create directory ", temp.string(), ": ", ec.message());
  try {
    write_files(temp.string());
    fsync_tree(temp);
  } catch (...) {
    remove_quietly(temp);
    throw;
  }
  crash_point("directory written, not yet renamed");
  // Moved aside under a temporary name, so a crash now leaves nothing that looks complete.
  const fs::path replaced = parent / (target.filename().string() + temp_suffix + "-replaced");
  const bool replacing = fs::exists(target);
  if (replacing) {
    rename_or_fail(target, replaced);
    crash_point("directory replaced: the old one moved aside");
  }
  rename_or_fail(temp, target);
  fsync_path(parent, true);
  crash_point("directory renamed into place");
  if (replacing) remove_quietly(replaced);
}

}  // namespace neft
