// GPT-2's byte-level alphabet: every byte is shown as one printable code point (the
// printable Latin-1 bytes as themselves, the other 68 as U+0100 onwards, in order), so that
// a BPE over "characters" is a BPE over bytes and any text has a spelling in the vocabulary.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace neft::tokenizer {

// The UTF-8 of the code point that stands for byte b.
const std::string& byte_level_char(uint8_t b);
// The byte code point cp stands for, or -1 when cp is not in the alphabet.
int byte_level_byte(char32_t cp);
// Each byte of `bytes` as its code point.
std::string to_byte_level(std::string_view bytes);

}  // namespace neft::tokenizer
