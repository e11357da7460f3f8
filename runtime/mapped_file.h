// A read-only memory map of a whole file: checkpoints are read in place, so a rank touches
// (and the page cache holds) only the bytes of the tensors it reads.
#pragma once
#include <cstddef>
#include <string>

namespace neft {

class MappedFile {
 public:
  // Fails with "cannot open <path>: <reason>" when missing, unreadable or not a regular file.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  // nullptr for an empty file.
  const unsigned char* data() const { return static_cast<const unsigned char*>(data_); }

 private:
  std::string path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace neft
