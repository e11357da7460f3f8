// Token files: round trips at both token widths, and every way a file can be rejected.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "data/token_file.h"
#include "tests/unit/data/data_testing.h"

namespace neft::data {
namespace {

using ::neft::data::testing::expect_error;
using ::neft::testing::read_text;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;

const std::vector<std::vector<int32_t>> kDocs{{1, 2, 3}, {4}, {5, 6, 7, 8}};

void expect_matches(const TokenFile& f, const std::vector<std::vector<int32_t>>& docs) {
  ASSERT_EQ(f.n_docs(), docs.size());
  uint64_t i = 0;
  for (uint64_t d = 0; d < docs.size(); ++d) {
    EXPECT_EQ(f.doc_start(d), i);
    EXPECT_EQ(f.document(d), docs[d]);
    for (int32_t id : docs[d]) {
      EXPECT_EQ(f.token(i), id);
      EXPECT_EQ(f.doc_of(i), d);
      ++i;
    }
  }
  EXPECT_EQ(f.n_tokens(), i);
  EXPECT_EQ(f.doc_start(docs.size()), i);
}

TEST(DataTokenFile, RoundTripTwoByteTokens) {
  TempDir dir;
  const std::string path = dir.file("a.tok");
  write_token_file(path, kDocs, 100);
  const TokenFile f(path, 100);
  EXPECT_EQ(f.token_bytes(), 2u);
  EXPECT_EQ(f.vocab(), 100u);
  expect_matches(f, kDocs);
  EXPECT_EQ(std::filesystem::file_size(path), kTokenFileHeaderBytes + 4 * 8 + 8 * 2);
  // The atomic write leaves only the target behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(DataTokenFile, RoundTripFourByteTokensAndMove) {
  TempDir dir;
  const std::string path = dir.file("wide.tok");
  const std::vector<std::vector<int32_t>> docs{{0, 69999, 65536}, {123456 % 70000}};
  write_token_file(path, docs, 70000);
  TokenFile f(path);
  EXPECT_EQ(f.token_bytes(), 4u);
  TokenFile moved = std::move(f);
  expect_matches(moved, docs);
  std::vector<int32_t> out(2);
  moved.read(1, 2, out.data());
  EXPECT_EQ(out, (std::vector<int32_t>{69999, 65536}));
}

TEST(DataTokenFile, RewriteReplacesAtomically) {
  TempDir dir;
  const std::string path = dir.file("a.tok");
  write_token_file(path, kDocs, 100);
  write_token_file(path, {{9, 9}}, 100);
  expect_matches(TokenFile(path), {{9, 9}});
}

TEST(DataTokenFile, WriterRejectsEmptyDocumentsAndOutOfVocabIds) {
  TempDir dir;
  const std::string path = dir.file("bad.tok");
  expect_error([&] { write_token_file(path, {{1}, {}}, 10); }, {path, "document 1 is empty"});
  expect_error(
      [&] {
        write_token_file(path, {{1}, {2, 10}}, 10);
      },
      {path, "document 1 token 1", "id 10"});
  expect_error([&] { write_token_file(path, {{-1}}, 10); }, {path, "id -1"});
  expect_error([&] { write_token_file(path, {{1}}, 0); }, {path, "vocab"});
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);
}

// Writes a valid file, lets `corrupt` edit its bytes, and expects opening to fail.
void expect_corrupt(const std::function<void(std::string&)>& corrupt,
                    std::initializer_list<std::string> fragments, int32_t vocab = 0) {
  TempDir dir;
  const std::string path = dir.file("c.tok");
  write_token_file(path, kDocs, 100);
  std::string bytes = read_text(path);
  corrupt(bytes);
  write_text(path, bytes);
  std::vector<std::string> all{path};
  all.insert(all.end(), fragments);
  try {
    TokenFile f(path, vocab);
    ADD_FAILURE() << "opened a corrupt file";
  } catch (const Error& e) {
    for (const std::string& s : all)
      EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what();
  }
}

void put_u64(std::string& bytes, size_t at, uint64_t v) { std::memcpy(&bytes[at], &v, 8); }

TEST(DataTokenFile, RejectsBadMagic) {
  expect_corrupt([](std::string& b) { b[3] = 'X'; }, {"bad magic"});
  expect_corrupt([](std::string& b) { b = "{\"not\": \"tokens\"}" + b; }, {"bad magic"});
}

TEST(DataTokenFile, RejectsTruncatedFiles) {
  expect_corrupt([](std::string& b) { b.pop_back(); }, {"truncated"});
  expect_corrupt([](std::string& b) { b.resize(20); }, {"truncated", "header"});
  expect_corrupt([](std::string& b) { b.resize(4); }, {"truncated"});
  expect_corrupt([](std::string& b) { b.clear(); }, {"truncated"});
  // A count that would overflow a 64-bit size must not wrap into a plausible one.
  expect_corrupt([](std::string& b) { put_u64(b, 16, ~uint64_t(0)); }, {"truncated"});
}

TEST(DataTokenFile, RejectsTrailingBytes) {
  expect_corrupt([](std::string& b) { b += "xx"; }, {"2 bytes past the end"});
}

TEST(DataTokenFile, RejectsBadVersionAndWidth) {
  expect_corrupt([](std::string& b) { b[8] = 7; }, {"version 7"});
  expect_corrupt([](std::string& b) { b[12] = 3; }, {"token width 3"});
}

TEST(DataTokenFile, RejectsBadOffsets) {
  // Offsets live at byte 40: 0, 3, 4, 8.
  expect_corrupt([](std::string& b) { put_u64(b, 40 + 16, 3); }, {"not increasing", "document 1"});
  expect_corrupt([](std::string& b) { put_u64(b, 40 + 8, 5); }, {"not increasing", "document 1"});
  expect_corrupt([](std::string& b) { put_u64(b, 40, 1); }, {"start at 0"});
  expect_corrupt([](std::string& b) { put_u64(b, 40 + 24, 7); }, {"not n_tokens 8"});
}

TEST(DataTokenFile, RejectsIdsOutsideTheModelVocab) {
  expect_corrupt([](std::string&) {}, {"token 7", "id 8", "vocab 8"}, /*vocab=*/8);
  TempDir dir;
  write_token_file(dir.file("ok.tok"), kDocs, 100);
  EXPECT_NO_THROW(TokenFile(dir.file("ok.tok"), 9));
}

TEST(DataTokenFile, MissingFileNamesIt) {
  TempDir dir;
  const std::string path = dir.file("missing.tok");
  expect_error([&] { TokenFile f(path); }, {path, "cannot open"});
}

}  // namespace
}  // namespace neft::data
