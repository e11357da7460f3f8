#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

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
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    fail("cannot rename ", temp_path_, " to ", path_, ": ", std::strerror(errno));
  committed_ = true;
  fsync_directory_of(path_);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

}  // namespace neft
