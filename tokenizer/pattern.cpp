#include "tokenizer/pattern.h"

namespace neft::tokenizer {

Pattern::Pattern(const Fields& spec) {
  if (spec.has("String")) {
    literal_ = spec.str("String");
    if (literal_.empty()) spec.fail("an empty String pattern matches nothing");
  } else if (spec.has("Regex")) {
    regex_ = std::make_unique<Regex>(spec.str("Regex"), spec.where());
  } else {
    spec.fail("expected {\"String\": ...} or {\"Regex\": ...}");
  }
}

std::vector<std::pair<size_t, size_t>> Pattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> r;
  for (size_t b = text.find(literal_); b != std::string_view::npos;
       b = text.find(literal_, b + literal_.size()))
    r.emplace_back(b, b + literal_.size());
  return r;
}

}  // namespace neft::tokenizer
