#include "tokenizer/added_tokens.h"

#include <utf8proc.h>

#include <algorithm>

#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {

// Rust's char::is_whitespace, for lstrip and rstrip.
bool is_space_at(std::string_view s, size_t i, size_t* len) {
  *len = utf8_sequence_length(s, i);
  if (*len == 0) *len = 1;
  return is_white_space(decode_utf8(s, i, *len));
}

// A word character for single_word, as \w of Rust's regex (what tokenizers uses): letters,
// marks, decimal digits, letter numbers and connector punctuation such as '_'.
bool is_word_char(char32_t c) {
  switch (utf8proc_category(utf8proc_int32_t(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// Whether the code point ending at byte `end` (exclusive) of `s` is a word character.
bool word_before(std::string_view s, size_t end) {
  if (end == 0) return false;
  size_t b = end - 1;
  while (b > 0 && (uint8_t(s[b]) & 0xC0) == 0x80) --b;
  const size_t len = utf8_sequence_length(s, b);
  return len && is_word_char(decode_utf8(s, b, len));
}

// Whether the code point starting at byte `at` of `s` is a word character.
bool word_at(std::string_view s, size_t at) {
  if (at >= s.size()) return false;
  const size_t len = utf8_sequence_length(s, at);
  return len && is_word_char(decode_utf8(s, at, len));
}

}  // namespace

AddedTokens::AddedTokens(const Fields& list) {
  for (size_t i = 0; i < list.size(); ++i) {
    const Fields t = list.at(i);
    AddedToken a;
    const int64_t id = t.integer("id");
    if (id < 0 || id >= INT32_MAX)
      t.at("id").fail("expected a token id, got " + std::to_string(id));
    a.id = int32_t(id);
    a.content = t.str("content");
    if (a.content.empty()) t.at("content").fail("an added token cannot be empty");
    a.special = t.boolean("special", false);
    a.normalized = t.boolean("normalized", !a.special);
    a.lstrip = t.boolean("lstrip", false);
    a.rstrip = t.boolean("rstrip", false);
    a.single_word = t.boolean("single_word", false);
    if (by_id_.count(a.id)) t.at("id").fail("id " + std::to_string(a.id) + " is added twice");
    by_id_[a.id] = tokens_.size();
    by_content_[a.content] = tokens_.size();
    tokens_.push_back(std::move(a));
  }
  for (size_t k = 0; k < tokens_.size(); ++k)
    first_byte_[tokens_[k].normalized][uint8_t(tokens_[k].content[0])].push_back(k);
  for (auto& table : first_byte_)
    for (auto& v : table)
      std::stable_sort(v.begin(), v.end(), [&](size_t a, size_t b) {
        return tokens_[a].content.size() > tokens_[b].content.size();
      });
}

const AddedToken* AddedTokens::by_id(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedTokens::by_content(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

std::vector<Segment> AddedTokens::split(std::string_view text, bool normalized) const {
  std::vector<Segment> out;
  size_t done = 0;  // text before this is in `out`
  for (size_t i = 0; i < text.size();) {
    const AddedToken* hit = nullptr;
    for (size_t k : first_byte_[normalized][uint8_t(text[i])]) {
      const AddedToken& t = tokens_[k];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word && (word_before(text, i) || word_at(text, i + t.content.size()))) continue;
      hit = &t;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t b = i, e = i + hit->content.size(), len = 0;
    if (hit->lstrip)
      while (b > done) {
        size_t k = b - 1;  // step back over one code point
        while (k > done && (uint8_t(text[k]) & 0xC0) == 0x80) --k;
        if (!is_space_at(text, k, &len)) break;
        b = k;
      }
    if (hit->rstrip)
      while (e < text.size() && is_space_at(text, e, &len)) e += len;
    if (b > done) out.push_back({text.substr(done, b - done), -1, done});
    out.push_back({text.substr(b, e - b), hit->id, b});
    done = i = e;
  }
  if (done < text.size()) out.push_back({text.substr(done), -1, done});
  return out;
}

}  // namespace neft::tokenizer
