// Token files: a flat stream of token ids with document boundaries, the pretraining-style
// dataset. Written once by a tokenizer pipeline, memory-mapped by every rank.
//
// Format "NEFTTOK1", version 1, all integers little-endian:
//   offset 0   char[8]  magic "NEFTTOK1"
//          8   u32      version (1)
//         12   u32      token width in bytes: 2 (vocab <= 65536) or 4
//         16   u64      n_tokens
//         24   u64      n_docs
//         32   u32      vocab the ids were checked against when written (ids < vocab)
//         36   u32      reserved, 0
//         40   u64      doc_offsets[n_docs + 1]: doc_offsets[0] = 0, strictly increasing
//                       (no empty documents), doc_offsets[n_docs] = n_tokens; document d is
//                       tokens [doc_offsets[d], doc_offsets[d + 1])
//   then               tokens[n_tokens], unsigned, token width bytes each
// The file is exactly that long: anything shorter is truncated, anything longer is corrupt.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace neft::data {

inline constexpr char kTokenFileMagic[8] = {'N', 'E', 'F', 'T', 'T', 'O', 'K', '1'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderBytes = 40;

// Writes `docs` atomically (temporary file, fsync, rename). Fails naming the document when
// one is empty or holds an id outside [0, vocab).
void write_token_file(const std::string& path, const std::vector<std::vector<int32_t>>& docs,
                      int32_t vocab);

// A read-only, memory-mapped token file. Opening validates the header, the size and the
// document offsets; with vocab > 0 it also checks every token id is below vocab. Every
// failure is a one-line error naming the file.
class TokenFile {
 public:
  explicit TokenFile(const std::string& path, int32_t vocab = 0);
  ~TokenFile();
  TokenFile(TokenFile&& other) noexcept;
  TokenFile& operator=(TokenFile&& other) noexcept;
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t n_tokens() const { return n_tokens_; }
  uint64_t n_docs() const { return n_docs_; }
  uint32_t token_bytes() const { return token_bytes_; }
  uint32_t vocab() const { return vocab_; }  // as recorded by the writer

  int32_t token(uint64_t i) const;
  // Start of document d; doc_start(n_docs()) == n_tokens().
  uint64_t doc_start(uint64_t d) const;
  // The document holding token i.
  uint64_t doc_of(uint64_t i) const;
  // Copies tokens [begin, begin + count) to out.
  void read(uint64_t begin, uint64_t count, int32_t* out) const;
  std::vector<int32_t> document(uint64_t d) const;

 private:
  void unmap() noexcept;
  uint32_t raw(uint64_t i) const;  // unchecked

  std::string path_;
  const unsigned char* map_ = nullptr;
  size_t map_bytes_ = 0;
  const uint64_t* offsets_ = nullptr;
  const unsigned char* tokens_ = nullptr;
  uint64_t n_tokens_ = 0, n_docs_ = 0;
  uint32_t token_bytes_ = 0, vocab_ = 0;
};

}  // namespace neft::data
