// tokenizer.json's BPE model: a piece is spelt as its code points' tokens, then adjacent
// pairs are merged, lowest merge rank first (leftmost among equals), until no listed merge
// applies: the algorithm and tie-breaking of transformers' tokenizers. A code point outside
// the vocabulary becomes its bytes' <0xXX> tokens with byte_fallback, else the unknown token
// (consecutive ones fused with fuse_unk). ignore_merges takes a piece that is itself in the
// vocabulary whole. Results are cached per piece.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"

namespace neft::tokenizer {

class Bpe {
 public:
  // spec: the "model" object (type BPE).
  explicit Bpe(const Fields& spec);

  // Appends the tokens of `piece` (UTF-8) to `ids`.
  void encode(std::string_view piece, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Empty when the model has no token with this id.
  const std::string& id_to_token(int32_t id) const;
  // One past the largest id.
  int32_t size() const { return int32_t(tokens_.size()); }

 private:
  void merge(std::string_view piece, std::vector<int32_t>& ids) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> tokens_;  // by id ("" where unused)
  struct Merge {
    int32_t rank, id;
  };
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, result
  std::optional<int32_t> unk_;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int32_t byte_tokens_[256];  // <0xXX> ids with byte fallback, -1 where absent

  // Pieces already spelt (bounded: cleared when full).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace neft::tokenizer
