#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace neft::tokenizer {

namespace {

struct Alphabet {
  std::array<std::string, 256> chars;
  std::array<int, 512> bytes;  // code point -> byte; every code point used is below 324
  Alphabet() {
    bytes.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      const char32_t cp = printable ? char32_t(b) : char32_t(next++);
      append_utf8(chars[size_t(b)], cp);
      bytes[cp] = b;
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

const std::string& byte_level_char(uint8_t b) { return alphabet().chars[b]; }

int byte_level_byte(char32_t cp) { return cp < 512 ? alphabet().bytes[cp] : -1; }

std::string to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_level_char(uint8_t(c));
  return out;
}

}  // namespace neft::tokenizer
