// A compiled split pattern (PCRE2, UTF mode with Unicode properties, JIT where the
// platform has it): the pre-tokenizers' regexes, as the Oniguruma patterns transformers'
// tokenizers runs them. Matching is thread-safe (each call has its own match data).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neft::tokenizer {

class Regex {
 public:
  // Fails with `where` (the file and key) and PCRE2's message when `pattern` does not compile.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Every non-empty, non-overlapping match in `text` as [begin, end) byte offsets, left to
  // right (an empty match advances by one code point, as tokenizers does).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  struct Code;
  std::unique_ptr<Code> code_;
};

}  // namespace neft::tokenizer
