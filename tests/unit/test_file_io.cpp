// Atomic writes and memory-mapped reads (runtime/atomic_file.h, runtime/mapped_file.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/mapped_file.h"
#include "tests/unit/temp_dir.h"

namespace neft {
namespace {

using ::neft::testing::read_text;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

TEST(AtomicFile, WritesAndReplacesTheTarget) {
  TempDir dir;
  const std::string path = dir.file("out.txt");
  write_file_atomic(path, "first");
  EXPECT_EQ(read_text(path), "first");
  write_file_atomic(path, "second, longer");
  EXPECT_EQ(read_text(path), "second, longer");
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"out.txt"}));
}

TEST(AtomicFile, InterruptedWriteLeavesThePreviousFileAndNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("weights.bin");
  write_file_atomic(path, "previous");
  {
    AtomicFile file(path);
    file.write("half of the new conten");
    EXPECT_EQ(read_text(path), "previous");  // nothing visible before commit
    EXPECT_EQ(dir.listing().size(), 2u);     // the target and the temp file
  }  // destroyed without commit, as when an exception unwinds a save
  EXPECT_EQ(read_text(path), "previous");
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"weights.bin"}));
}

TEST(AtomicFile, CommitPublishesEverythingWritten) {
  TempDir dir;
  const std::string path = dir.file("data.bin");
  AtomicFile file(path);
  const char bytes[] = {'a', '\0', 'b'};
  file.write(bytes, sizeof bytes);
  file.write("cd");
  EXPECT_EQ(file.bytes_written(), 5u);
  file.commit();
  EXPECT_EQ(read_text(path), std::string("a\0bcd", 5));
  EXPECT_THROW(file.write("more"), Error);
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"data.bin"}));
}

TEST(AtomicFile, MissingDirectoryNamesThePathAndTheReason) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/out.txt");
  EXPECT_THAT([&] { write_file_atomic(path, "x"); },
              ThrowsMessage<Error>(AllOf(HasSubstr(path), HasSubstr(std::strerror(ENOENT)))));
}

TEST(MappedFile, MapsTheWholeFile) {
  TempDir dir;
  write_text(dir.file("a.bin"), "hello");
  const MappedFile file(dir.file("a.bin"));
  EXPECT_EQ(file.size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.data()), file.size()), "hello");
}

TEST(MappedFile, EmptyFileIsEmpty) {
  TempDir dir;
  write_text(dir.file("empty"), "");
  const MappedFile file(dir.file("empty"));
  EXPECT_EQ(file.size(), 0u);
}

TEST(MappedFile, MissingFileNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("missing.safetensors");
  EXPECT_THAT([&] { MappedFile file(path); },
              ThrowsMessage<Error>(
                  AllOf(HasSubstr("cannot open " + path), HasSubstr(std::strerror(ENOENT)))));
}

TEST(MappedFile, DirectoryIsNotAFile) {
  TempDir dir;
  EXPECT_THAT([&] { MappedFile file(dir.path()); },
              ThrowsMessage<Error>(HasSubstr(dir.path().string() + ": not a regular file")));
}

}  // namespace
}  // namespace neft
