// tokenizer.json's "added_tokens": strings that are one token wherever they stand in the
// text (special tokens such as <|im_start|>, and user-added ones), found before anything
// else runs, leftmost and longest first. Options as transformers' tokenizers reads them:
// lstrip / rstrip take the whitespace beside a match into it, single_word matches only
// between non-word characters, and a `normalized` token is looked for in the normalized
// text of each segment rather than in the raw input.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_fields.h"

namespace neft::tokenizer {

struct AddedToken {
  int32_t id;
  std::string content;
  bool special = false, normalized = false, lstrip = false, rstrip = false, single_word = false;
};

// A run of text to tokenize, or an added token (id >= 0).
struct Segment {
  std::string_view text;
  int32_t id = -1;
  size_t begin = 0;  // byte offset in the text that was split
};

class AddedTokens {
 public:
  AddedTokens() = default;
  explicit AddedTokens(const Fields& list);

  const std::vector<AddedToken>& all() const { return tokens_; }
  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;

  // `text` cut at its added tokens: raw (normalized = false) or normalized ones.
  std::vector<Segment> split(std::string_view text, bool normalized) const;

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  // By first byte, the tokens (indices) to try at a position, longest first.
  std::vector<size_t> first_byte_[2][256];
};

}  // namespace neft::tokenizer
