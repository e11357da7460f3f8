// UTF-8 as the tokenizer meets it: code points in and out, and the checks that make every
// later step safe to index by code point.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/text.h"

namespace neft::tokenizer {

// utf8_sequence_length and utf8_valid_prefix: runtime/text.h.
using neft::utf8_sequence_length;
using neft::utf8_valid_prefix;

// Appends the UTF-8 encoding of `cp` (a valid scalar value).
void append_utf8(std::string& out, char32_t cp);

// The code point at s[i], whose sequence length is `len` (from utf8_sequence_length).
char32_t decode_utf8(std::string_view s, size_t i, size_t len);

// Unicode White_Space, as Rust's char::is_whitespace (what tokenizers strips).
bool is_white_space(char32_t c);

// `bytes` as text: each maximal ill-formed subsequence becomes one U+FFFD, as Rust's
// String::from_utf8_lossy does (what transformers' tokenizers return from a decode).
std::string utf8_lossy(std::string_view bytes);

// The byte offset where each code point of well-formed `s` starts, and s.size() last.
std::vector<size_t> code_point_offsets(std::string_view s);

}  // namespace neft::tokenizer
