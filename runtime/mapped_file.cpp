#include "runtime/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "runtime/error.h"

namespace neft {

namespace {

// Why `path` cannot be opened. A symbolic link whose target is gone (an HF cache's model
// directory copied without its blobs) reads as "no such file" while `ls` lists it; say what
// it points to and what that resolved to.
std::string open_failure(const std::string& path, int err) {
  std::error_code ec;
  if (err == ENOENT && std::filesystem::is_symlink(path, ec)) {
    const std::filesystem::path target = std::filesystem::read_symlink(path, ec);
    const std::filesystem::path resolved =
        (std::filesystem::absolute(path, ec).parent_path() / target).lexically_normal();
    return "cannot open " + path + ": it is a symbolic link to '" + target.string() + "', and " +
           resolved.string() + " does not exist";
  }
  return "cannot open " + path + ": " + std::strerror(err);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(open_failure(path, errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot open ", path, ": ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("cannot open ", path, ": not a regular file");
  }
  size_ = size_t(st.st_size);
#ifdef NEFT_FUZZ
  // Fuzzing builds read the file into a heap block of exactly its size instead: AddressSanitizer
  // sees a read past the end of a heap block, while one past the end of a mapping goes unseen
  // until it leaves the last page.
  if (size_ > 0) {
    unsigned char* copy = new unsigned char[size_];
    if (::pread(fd, copy, size_, 0) != ssize_t(size_)) {
      delete[] copy;
      ::close(fd);
      fail("cannot read ", path);
    }
    data_ = copy;
  }
#else
  if (size_ > 0) {  // mmap of zero bytes is an error; an empty file is simply empty
    data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data_ == MAP_FAILED) {
      const int err = errno;
      data_ = nullptr;
      ::close(fd);
      fail("cannot map ", path, ": ", std::strerror(err));
    }
  }
#endif
  ::close(fd);  // a mapping keeps the file alive; a heap copy needs it no more
}

MappedFile::~MappedFile() {
#ifdef NEFT_FUZZ
  delete[] static_cast<unsigned char*>(data_);
#else
  if (data_) ::munmap(data_, size_);
#endif
}

}  // namespace neft
