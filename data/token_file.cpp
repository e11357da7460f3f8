// Token files: writer and memory-mapped reader (format in token_file.h).
#include "data/token_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "runtime/atomic_file.h"
#include "runtime/error.h"

namespace neft::data {

static_assert(std::endian::native == std::endian::little,
              "token files are little-endian and read in place");

namespace {

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t token_bytes;
  uint64_t n_tokens;
  uint64_t n_docs;
  uint32_t vocab;
  uint32_t reserved;
};
static_assert(sizeof(Header) == kTokenFileHeaderBytes);

uint32_t token_width_for(int32_t vocab) { return vocab <= 65536 ? 2 : 4; }

}  // namespace

void write_token_file(const std::string& path, const std::vector<std::vector<int32_t>>& docs,
                      int32_t vocab) {
  if (vocab <= 0) fail(path, ": vocab must be positive to write a token file, got ", vocab);
  Header h{};
  std::memcpy(h.magic, kTokenFileMagic, sizeof h.magic);
  h.version = kTokenFileVersion;
  h.token_bytes = token_width_for(vocab);
  h.n_docs = docs.size();
  h.vocab = uint32_t(vocab);
  std::vector<uint64_t> offsets{0};
  for (size_t d = 0; d < docs.size(); ++d) {
    if (docs[d].empty()) fail(path, ": document ", d, " is empty");
    for (size_t i = 0; i < docs[d].size(); ++i)
      if (docs[d][i] < 0 || docs[d][i] >= vocab)
        fail(path, ": document ", d, " token ", i, " has id ", docs[d][i], ", outside [0, ", vocab,
             ")");
    offsets.push_back(offsets.back() + docs[d].size());
  }
  h.n_tokens = offsets.back();

  AtomicFile file(path);
  file.write(&h, sizeof h);
  file.write(offsets.data(), offsets.size() * sizeof(uint64_t));
  std::vector<unsigned char> buffer;
  for (const auto& doc : docs) {
    buffer.resize(doc.size() * h.token_bytes);
    for (size_t i = 0; i < doc.size(); ++i) {
      if (h.token_bytes == 2) {
        const uint16_t v = uint16_t(doc[i]);
        std::memcpy(&buffer[i * 2], &v, 2);
      } else {
        const uint32_t v = uint32_t(doc[i]);
        std::memcpy(&buffer[i * 4], &v, 4);
      }
    }
    file.write(buffer.data(), buffer.size());
  }
  file.commit();
}

TokenFile::TokenFile(const std::string& path, int32_t vocab) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open token file: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, ": cannot stat token file: ", std::strerror(err));
  }
  const size_t size = size_t(st.st_size);
  if (size < sizeof(kTokenFileMagic)) {
    ::close(fd);
    fail(path, ": truncated token file (", size, " bytes, the header alone is ",
         kTokenFileHeaderBytes, ")");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (map == MAP_FAILED) fail(path, ": cannot map token file: ", std::strerror(map_err));
  map_ = static_cast<const unsigned char*>(map);
  map_bytes_ = size;

  // From here a failure must unmap; the destructor does not run for a throwing constructor.
  try {
    if (std::memcmp(map_, kTokenFileMagic, sizeof kTokenFileMagic) != 0)
      fail(path, ": bad magic, not a token file (expected \"NEFTTOK1\")");
    if (size < kTokenFileHeaderBytes)
      fail(path, ": truncated token file (", size, " bytes, the header alone is ",
           kTokenFileHeaderBytes, ")");
    Header h;
    std::memcpy(&h, map_, sizeof h);
    if (h.version != kTokenFileVersion)
      fail(path, ": token file version ", h.version, " is not supported (this build reads ",
           kTokenFileVersion, ")");
    if (h.token_bytes != 2 && h.token_bytes != 4)
      fail(path, ": token width ", h.token_bytes, " bytes is invalid (2 or 4)");
    // 128-bit so that a corrupt count cannot wrap the expected size into a plausible one.
    const unsigned __int128 expected = (unsigned __int128)kTokenFileHeaderBytes +
                                       (unsigned __int128)(h.n_docs + (unsigned __int128)1) * 8 +
                                       (unsigned __int128)h.n_tokens * h.token_bytes;
    if (size < expected)
      fail(path, ": truncated token file (", size, " bytes, the header promises ",
           uint64_t(std::min<unsigned __int128>(expected, UINT64_MAX)), " for ", h.n_docs,
           " documents and ", h.n_tokens, " tokens)");
    if (size > expected)
      fail(path, ": ", uint64_t(size - expected), " bytes past the end of the token data");
    n_tokens_ = h.n_tokens;
    n_docs_ = h.n_docs;
    token_bytes_ = h.token_bytes;
    vocab_ = h.vocab;
    offsets_ = reinterpret_cast<const uint64_t*>(map_ + kTokenFileHeaderBytes);
    tokens_ = map_ + kTokenFileHeaderBytes + (n_docs_ + 1) * 8;

    if (offsets_[0] != 0) fail(path, ": document offsets must start at 0, got ", offsets_[0]);
    for (uint64_t d = 0; d < n_docs_; ++d)
      if (offsets_[d + 1] <= offsets_[d])
        fail(path, ": document offsets not increasing at document ", d, " (", offsets_[d], " then ",
             offsets_[d + 1], ")");
    if (offsets_[n_docs_] != n_tokens_)
      fail(path, ": last document offset ", offsets_[n_docs_], " is not n_tokens ", n_tokens_);
    if (vocab > 0)
      for (uint64_t i = 0; i < n_tokens_; ++i)
        if (raw(i) >= uint32_t(vocab))
          fail(path, ": token ", i, " has id ", raw(i), ", not below vocab ", vocab);
  } catch (...) {
    unmap();
    throw;
  }
}

TokenFile::~TokenFile() { unmap(); }

void TokenFile::unmap() noexcept {
  if (map_) ::munmap(const_cast<unsigned char*>(map_), map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
}

TokenFile::TokenFile(TokenFile&& other) noexcept { *this = std::move(other); }

TokenFile& TokenFile::operator=(TokenFile&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
    offsets_ = std::exchange(other.offsets_, nullptr);
    tokens_ = std::exchange(other.tokens_, nullptr);
    n_tokens_ = std::exchange(other.n_tokens_, 0);
    n_docs_ = std::exchange(other.n_docs_, 0);
    token_bytes_ = std::exchange(other.token_bytes_, 0);
    vocab_ = std::exchange(other.vocab_, 0);
  }
  return *this;
}

int32_t TokenFile::token(uint64_t i) const {
  NEFT_CHECK(i < n_tokens_, path_, ": token ", i, " out of range (", n_tokens_, " tokens)");
  return int32_t(raw(i));
}

uint32_t TokenFile::raw(uint64_t i) const {
  if (token_bytes_ == 2) return reinterpret_cast<const uint16_t*>(tokens_)[i];
  return reinterpret_cast<const uint32_t*>(tokens_)[i];
}

uint64_t TokenFile::doc_start(uint64_t d) const {
  NEFT_CHECK(d <= n_docs_, path_, ": document ", d, " out of range (", n_docs_, " documents)");
  return offsets_[d];
}

uint64_t TokenFile::doc_of(uint64_t i) const {
  NEFT_CHECK(i < n_tokens_, path_, ": token ", i, " out of range (", n_tokens_, " tokens)");
  // The last offset <= i; offsets are strictly increasing, so that document holds i.
  return uint64_t(std::upper_bound(offsets_, offsets_ + n_docs_ + 1, i) - offsets_) - 1;
}

void TokenFile::read(uint64_t begin, uint64_t count, int32_t* out) const {
  NEFT_CHECK(begin <= n_tokens_ && count <= n_tokens_ - begin, path_, ": tokens [", begin, ", ",
             begin + count, ") out of range (", n_tokens_, " tokens)");
  for (uint64_t i = 0; i < count; ++i) out[i] = int32_t(raw(begin + i));
}

std::vector<int32_t> TokenFile::document(uint64_t d) const {
  NEFT_CHECK(d < n_docs_, path_, ": document ", d, " out of range (", n_docs_, " documents)");
  std::vector<int32_t> doc(offsets_[d + 1] - offsets_[d]);
  read(offsets_[d], doc.size(), doc.data());
  return doc;
}

}  // namespace neft::data
