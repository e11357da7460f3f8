// UTF-8 at the tokenizer's edges: what counts as well-formed (Unicode's table 3-7), the
// replacement of ill-formed bytes in decoded text one U+FFFD per maximal subpart (Unicode's
// recommended practice, which Rust's from_utf8_lossy and so tokenizers' decode follow), and
// GPT-2's byte alphabet as a bijection between the 256 bytes and 256 printable code points.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace neft::tokenizer {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8, WellFormedSequences) {
  EXPECT_EQ(utf8_valid_prefix("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"), 10u);
  for (const std::string bad : {"\x80", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
                                "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xE4\xB8", "\xFF"})
    EXPECT_EQ(utf8_valid_prefix("ok" + bad), 2u) << "bytes of length " << bad.size();
}

TEST(Utf8, LossyReplacesEachMaximalSubpart) {
  EXPECT_EQ(utf8_lossy("plain \xC3\xA9"), "plain \xC3\xA9");
  // A truncated 3-byte sequence is one subpart; a stray continuation byte is one each.
  EXPECT_EQ(utf8_lossy("a\xE4\xB8z"), "a" + kFffd + "z");
  EXPECT_EQ(utf8_lossy("\x80\x80"), kFffd + kFffd);
  // A surrogate's lead E0..ED range check fails at its second byte: three subparts.
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), kFffd);
}

TEST(ByteLevel, AlphabetIsABijectionOfPrintableCodePoints) {
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string& c = byte_level_char(uint8_t(b));
    ASSERT_TRUE(seen.insert(c).second) << "byte " << b;
    const size_t len = utf8_sequence_length(c, 0);
    ASSERT_EQ(len, c.size());
    EXPECT_EQ(byte_level_byte(decode_utf8(c, 0, len)), b);
  }
  EXPECT_EQ(byte_level_char(' '), "\xC4\xA0");  // U+0120, GPT-2's "Ġ"
  EXPECT_EQ(byte_level_char('A'), "A");
  EXPECT_EQ(byte_level_byte(U'中'), -1);
}

}  // namespace
}  // namespace neft::tokenizer
