// The JSON reading policy (runtime/json_file.h): hostile text is a one-line error naming the
// file, the line and, where the parser knows it, the key; nothing deep reaches a recursion.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/json_file.h"
#include "tests/unit/error_of.h"

namespace neft {
namespace {

using ::neft::testing::error_of;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonPolicy, DepthUpToTheLimitParsesOneBeyondFails) {
  EXPECT_NO_THROW(parse_json(nested(kMaxJsonDepth), "a.json"));
  EXPECT_EQ(error_of([] { parse_json(nested(kMaxJsonDepth + 1), "a.json"); }),
            "a.json:1: nested deeper than 64 levels");
}

TEST(JsonPolicy, BracketsInsideStringsDoNotCount) {
  const std::string text = "{\"k\": \"" + std::string(1000, '[') + "\\\"" + "\"}";
  EXPECT_EQ(parse_json(text, "a.json")["k"].get<std::string>().size(), 1001u);
}

TEST(JsonPolicy, HundredThousandLevelsFailWithoutCrashing) {
  for (const char open : {'[', '{'}) {
    const std::string deep(100000, open);
    EXPECT_THAT(error_of([&] { parse_json(deep, "deep.json"); }),
                StartsWith("deep.json:1: nested deeper"));
    EXPECT_FALSE(try_parse_json(deep).has_value());
  }
}

TEST(JsonPolicy, NulByteIsAnErrorOnItsLine) {
  const std::string text("{\n\"a\": 1\n}\0junk", 15);
  EXPECT_EQ(error_of([&] { parse_json(text, "a.json"); }),
            "a.json:3: NUL byte (JSON text cannot hold one)");
  EXPECT_FALSE(try_parse_json(text).has_value());
}

TEST(JsonPolicy, NumberBeyondADoubleNamesLineAndKey) {
  const std::string text = "{\n  \"rope_scaling\": {\n    \"factor\": 33E334\n  }\n}";
  EXPECT_EQ(error_of([&] { parse_json(text, "config.json"); }),
            "config.json:3: key 'rope_scaling.factor': number 33E334 is beyond the range of a "
            "double");
}

TEST(JsonPolicy, LinesCountFromTheCallersFirstLine) {
  EXPECT_THAT(error_of([] { parse_json("{\"a\": }", "data.jsonl", 17); }),
              StartsWith("data.jsonl:17: key 'a': invalid JSON: syntax error"));
}

TEST(JsonPolicy, DuplicateKeyNamesItsPath) {
  EXPECT_EQ(error_of([] { parse_json(R"({"a": {"b": 1, "b": 2}})", "a.json"); }),
            "a.json: invalid JSON: duplicate key 'a.b'");
}

// Six elements of a million, not a dump of all of them cut short afterwards.
TEST(JsonPolicy, ExcerptOfAHugeValueShowsItsFirstElements) {
  nlohmann::json big = nlohmann::json::array();
  for (int i = 0; i < 1000000; ++i) big.push_back({{"k", i}});
  const std::string excerpt = json_excerpt(big);
  EXPECT_EQ(excerpt, R"([{"k":0},{"k":1},{"k":2},{"k":3},{"k":4},{"k":5}])");
}

}  // namespace
}  // namespace neft
