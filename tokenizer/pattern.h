// A tokenizer.json pattern, {"String": "..."} (every occurrence of the literal) or
// {"Regex": "..."} (every match), as the Split pre-tokenizer and the Replace normalizer take.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/regex.h"

namespace neft::tokenizer {

class Pattern {
 public:
  explicit Pattern(const Fields& spec);
  // Non-overlapping [begin, end) byte ranges, left to right.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
};

}  // namespace neft::tokenizer
