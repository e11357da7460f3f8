// Safetensors checkpoints: round trips in every dtype, single file and sharded, partial
// reads for tensor-parallel ranks, dtype conversion on read, and a one-line error naming
// the file for every kind of broken file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "runtime/error.h"
#include "runtime/ops/cast.h"
#include "tests/unit/temp_dir.h"

namespace neft::model {
namespace {

using ::neft::testing::read_text;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;
using nlohmann::json;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

std::vector<float> iota_values(int64_t n, float scale = 0.37f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i) * scale - 1.5f;
  return v;
}

Tensor iota(const Shape& shape, DType dtype) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return Tensor::from_floats(iota_values(n), shape, dtype);
}

std::string bytes_of(const Tensor& t) {
  const Tensor h = t.to(Device::CPU);
  return std::string(static_cast<const char*>(h.raw()), h.nbytes());
}

// A tensor set covering every dtype, a scalar and an empty tensor.
NamedTensors sample_tensors() {
  Tensor i64 = Tensor::empty({3}, DType::I64);
  for (int64_t i = 0; i < 3; ++i) i64.data<int64_t>()[i] = (int64_t(1) << 40) + i;
  return {{"model.embed_tokens.weight", iota({6, 5}, DType::F32)},
          {"model.layers.0.mlp.up_proj.weight", iota({4, 3}, DType::BF16)},
          {"model.norm.weight", iota({7}, DType::F16)},
          {"positions", Tensor::from_ints({3, -1, 4, 1, -5, 9}, {2, 3})},
          {"step", i64},
          {"scalar", iota({}, DType::F32)},
          {"empty", Tensor::empty({0, 4}, DType::F32)}};
}

void expect_holds(const Checkpoint& ckpt, const NamedTensors& tensors) {
  ASSERT_EQ(ckpt.names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(ckpt.has(name));
    EXPECT_EQ(ckpt.info(name).dtype, t.dtype());
    EXPECT_EQ(ckpt.info(name).shape, t.shape());
    EXPECT_EQ(ckpt.info(name).nbytes, t.nbytes());
    const Tensor back = ckpt.read(name, t.dtype(), Device::CPU);
    EXPECT_EQ(back.shape(), t.shape());
    EXPECT_EQ(bytes_of(back), bytes_of(t));
  }
}

// A file with the given header text (unpadded) and `data_bytes` zero bytes after it.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes) {
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[size_t(i)] = char(uint64_t(header.size()) >> (8 * i));
  file += header;
  file.append(data_bytes, '\0');
  write_text(path, file);
}

// ---- round trips ----------------------------------------------------------------------

TEST(Safetensors, RoundTripsEveryDtypeInOrderWithMetadata) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const NamedTensors tensors = sample_tensors();
  save_safetensors(path, tensors, {{"step", "12"}});
  const SafetensorsFile file(path);
  std::vector<std::string> order;
  for (const auto& [name, t] : tensors) order.push_back(name);
  EXPECT_EQ(file.names(), order);
  EXPECT_EQ(file.metadata(), (Metadata{{"format", "pt"}, {"step", "12"}}));
  expect_holds(Checkpoint(path), tensors);
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"model.safetensors"}));
}

TEST(Safetensors, LayoutIsHfs) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, {{"b", iota({3}, DType::F32)}, {"a", iota({2}, DType::BF16)}});
  const std::string raw = read_text(path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(raw[size_t(i)])) << (8 * i);
  EXPECT_EQ((8 + n) % 8, 0u);  // data starts aligned; the header is padded with spaces
  const std::string header = raw.substr(8, n);
  EXPECT_EQ(header.back(), ' ');
  EXPECT_EQ(raw.size(), 8 + n + 3 * 4 + 2 * 2);
  const json j = json::parse(header);
  EXPECT_EQ(j["b"]["dtype"], "F32");
  EXPECT_EQ(j["b"]["data_offsets"], json::array({0, 12}));
  EXPECT_EQ(j["a"]["dtype"], "BF16");
  EXPECT_EQ(j["a"]["shape"], json::array({2}));
  EXPECT_EQ(j["a"]["data_offsets"], json::array({12, 16}));
  EXPECT_EQ(j["__metadata__"]["format"], "pt");  // transformers refuses files without it
  // The given order, not sorted: "b" comes before "a" in the file.
  EXPECT_LT(header.find("\"b\""), header.find("\"a\""));
}

TEST(Safetensors, ReadConvertsFloatsAsTheRuntimeDoes) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  // Values that need rounding in bf16 and f16, ties included.
  std::vector<float> values = iota_values(40, 0.1234567f);
  values.push_back(1.00390625f);
  values.push_back(70000.0f);  // beyond f16: inf
  const Tensor f32 = Tensor::from_floats(values, {2, 21});
  save_safetensors(path, {{"w", f32}, {"h", iota({2, 21}, DType::BF16)}});
  const SafetensorsFile file(path);
  for (DType to : {DType::BF16, DType::F16}) {
    SCOPED_TRACE(dtype_name(to));
    Tensor expected = Tensor::empty({2, 21}, to);
    ops::cast(f32, expected);
    EXPECT_EQ(bytes_of(file.read("w", to, Device::CPU)), bytes_of(expected));
  }
  const Tensor h = iota({2, 21}, DType::BF16);
  EXPECT_EQ(file.read("h", DType::F32, Device::CPU).to_floats(), h.to_floats());
}

TEST(Safetensors, IntegersAreReadAsTheirOwnDtypeOnly) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, {{"ids", Tensor::from_ints({1, 2, 3}, {3})}});
  const SafetensorsFile file(path);
  EXPECT_EQ(file.read("ids", DType::I32).to_ints(), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_THAT(
      [&] { file.read("ids", DType::F32); },
      ThrowsMessage<Error>(HasSubstr(path + ": tensor 'ids' is i32 and cannot be read as f32")));
}

TEST(Safetensors, ReadsRowAndColumnShards) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const Tensor w = iota({6, 5}, DType::F32);
  save_safetensors(
      path, {{"w", w}, {"w16", iota({6, 5}, DType::BF16)}, {"cube", iota({4, 2, 3}, DType::F32)}});
  const SafetensorsFile file(path);
  const std::vector<float> all = w.to_floats();
  const auto at = [&](int64_t r, int64_t c) { return all[size_t(r * 5 + c)]; };

  const Tensor rows = file.read_rows("w", 2, 3, DType::F32);
  EXPECT_EQ(rows.shape(), (Shape{3, 5}));
  EXPECT_EQ(rows.to_floats(), std::vector<float>(all.begin() + 10, all.begin() + 25));

  const Tensor cols = file.read_cols("w", 1, 3, DType::F32);
  EXPECT_EQ(cols.shape(), (Shape{6, 3}));
  std::vector<float> expected;
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 1; c < 4; ++c) expected.push_back(at(r, c));
  EXPECT_EQ(cols.to_floats(), expected);

  // With a conversion on the way: the same values as converting the whole tensor.
  const std::vector<float> whole16 = file.read("w16", DType::F32).to_floats();
  const Tensor cols16 = file.read_cols("w16", 3, 2, DType::F32);
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 2; ++c)
      EXPECT_EQ(cols16.to_floats()[size_t(r * 2 + c)], whole16[size_t(r * 5 + 3 + c)]);
  EXPECT_EQ(bytes_of(file.read_rows("w", 1, 2, DType::BF16)),
            bytes_of(file.read("w", DType::BF16).rows(1, 2)));

  // Rows of a 3-D tensor keep the trailing dimensions; empty ranges are fine.
  const Tensor cube = file.read_rows("cube", 1, 2, DType::F32);
  EXPECT_EQ(cube.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(cube.to_floats()[0], iota({4, 2, 3}, DType::F32).to_floats()[6]);
  EXPECT_EQ(file.read_cols("w", 5, 0, DType::F32).shape(), (Shape{6, 0}));
}

TEST(Safetensors, PartialReadsAreBoundsChecked) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, {{"w", iota({6, 5}, DType::F32)}, {"v", iota({5}, DType::F32)}});
  const SafetensorsFile file(path);
  EXPECT_THAT([&] { file.read_rows("w", 4, 3, DType::F32); },
              ThrowsMessage<Error>(AllOf(HasSubstr(path + ": rows [4, 7) out of range"),
                                         HasSubstr("'w' of shape [6, 5]"))));
  EXPECT_THAT([&] { file.read_cols("w", -1, 2, DType::F32); },
              ThrowsMessage<Error>(HasSubstr(path + ": columns [-1, 1) out of range")));
  EXPECT_THAT([&] { file.read_cols("v", 0, 2, DType::F32); },
              ThrowsMessage<Error>(HasSubstr("read_cols needs a 2-D tensor; 'v' has shape [5]")));
  EXPECT_THAT([&] { file.read("u", DType::F32); },
              ThrowsMessage<Error>(HasSubstr(path + ": no tensor 'u'")));
}

TEST(Safetensors, ShardedRoundTripWritesAnHfIndex) {
  TempDir dir;
  const NamedTensors tensors = sample_tensors();
  // 120 + 24 + 14 + 24 + 24 + 4 + 0 bytes, at most 64 per shard: the first tensor is larger
  // than a shard and gets one of its own.
  save_safetensors_sharded(dir.path(), tensors, 64, {{"step", "3"}});
  EXPECT_EQ(
      dir.listing(),
      (std::set<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                             "model-00003-of-00003.safetensors", "model.safetensors.index.json"}));
  const json index = json::parse(read_text(dir.file("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 120 + 24 + 14 + 24 + 24 + 4);
  EXPECT_EQ(index["weight_map"]["model.embed_tokens.weight"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["model.norm.weight"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["step"], "model-00003-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"].size(), tensors.size());

  const Checkpoint ckpt(dir.path());
  expect_holds(ckpt, tensors);
  EXPECT_EQ(ckpt.metadata().at("step"), "3");
  EXPECT_EQ(ckpt.file_of("step").path(), dir.file("model-00003-of-00003.safetensors"));
  const std::vector<float> embed = iota_values(30);
  EXPECT_EQ(ckpt.read_rows("model.embed_tokens.weight", 1, 1, DType::F32).to_floats(),
            std::vector<float>(embed.begin() + 5, embed.begin() + 10));
  expect_holds(Checkpoint(dir.file("model.safetensors.index.json")), tensors);
}

TEST(Safetensors, ShardedSaveReplacesAnEarlierLayout) {
  TempDir dir;
  const NamedTensors tensors = sample_tensors();
  save_safetensors_sharded(dir.path(), tensors, 64);
  write_text(dir.file("config.json"), "{}");  // not ours: stays
  // Everything fits: one model.safetensors, and the shards and index are gone.
  save_safetensors_sharded(dir.path(), tensors, 1 << 20);
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"config.json", "model.safetensors"}));
  expect_holds(Checkpoint(dir.path()), tensors);
  // And back to two shards.
  save_safetensors_sharded(dir.path(), tensors, 130);
  EXPECT_EQ(dir.listing(), (std::set<std::string>{"config.json", "model-00001-of-00002.safetensors",
                                                  "model-00002-of-00002.safetensors",
                                                  "model.safetensors.index.json"}));
  expect_holds(Checkpoint(dir.path()), tensors);
}

TEST(Safetensors, WritingRejectsAmbiguousNames) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  EXPECT_THAT(
      [&] {
        save_safetensors(path, {{"a", iota({2}, DType::F32)}, {"a", iota({2}, DType::F32)}});
      },
      ThrowsMessage<Error>(HasSubstr("writing " + path + ": tensor 'a' given twice")));
  EXPECT_THAT(
      [&] {
        save_safetensors(path, {{"__metadata__", iota({2}, DType::F32)}});
      },
      ThrowsMessage<Error>(HasSubstr("'__metadata__' cannot name a tensor")));
  EXPECT_TRUE(dir.listing().empty());
}

TEST(Safetensors, ReadsToTheGpu) {
  if (!cuda_available()) GTEST_SKIP() << cuda_unavailable_reason();
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const Tensor w = iota({6, 5}, DType::F32);
  save_safetensors(path, {{"w", w.to(Device::CUDA)}});
  const SafetensorsFile file(path);
  EXPECT_EQ(bytes_of(file.read("w", DType::F32, Device::CUDA)), bytes_of(w));
  EXPECT_EQ(bytes_of(file.read("w", DType::BF16, Device::CUDA)),
            bytes_of(file.read("w", DType::BF16, Device::CPU)));
  EXPECT_EQ(bytes_of(file.read_cols("w", 1, 2, DType::BF16, Device::CUDA)),
            bytes_of(file.read_cols("w", 1, 2, DType::BF16, Device::CPU)));
}

// ---- broken files: one line naming the file and the problem ---------------------------

#define EXPECT_OPEN_FAILS(path, ...) \
  EXPECT_THAT([&] { Checkpoint ckpt(path); }, ThrowsMessage<Error>(AllOf(__VA_ARGS__)))

TEST(SafetensorsErrors, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  EXPECT_OPEN_FAILS(path, HasSubstr("cannot open " + path), HasSubstr(std::strerror(ENOENT)));
}

TEST(SafetensorsErrors, DirectoryWithoutWeights) {
  TempDir dir;
  EXPECT_OPEN_FAILS(dir.path(), HasSubstr(dir.path().string() + ": no model.safetensors or "
                                                                "model.safetensors.index.json"));
}

TEST(SafetensorsErrors, FileShorterThanTheHeaderLength) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  write_text(path, "abc");
  EXPECT_OPEN_FAILS(path, HasSubstr(path + ": not a safetensors file (3 bytes"));
}

TEST(SafetensorsErrors, TruncatedInTheHeader) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, sample_tensors());
  const std::string whole = read_text(path);
  write_text(path, whole.substr(0, 40));
  EXPECT_OPEN_FAILS(path, HasSubstr(path + ": truncated: the header needs"),
                    HasSubstr("only 32 follow"));
}

TEST(SafetensorsErrors, TruncatedInTheData) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, sample_tensors());
  const std::string whole = read_text(path);
  write_text(path, whole.substr(0, whole.size() - 10));
  EXPECT_OPEN_FAILS(path, HasSubstr(path + ": tensor '"), HasSubstr("past the end of the data"),
                    HasSubstr("truncated?"));
}

TEST(SafetensorsErrors, ImplausibleHeaderLength) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  write_text(path, std::string("\xff\xff\xff\xff\xff\x00\x00\x00{}", 10));
  EXPECT_OPEN_FAILS(path, HasSubstr(path + ": header length 1099511627775 is implausible"));
}

// A file whose header is `header` followed by `data_bytes` zero bytes, and the problem the
// error must name after the file.
struct BadHeader {
  const char* name;
  std::string header;
  size_t data_bytes;
  std::string problem;
};

class SafetensorsBadHeader : public ::testing::TestWithParam<BadHeader> {};

TEST_P(SafetensorsBadHeader, NamesTheFileAndTheProblem) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  write_raw(path, GetParam().header, GetParam().data_bytes);
  EXPECT_OPEN_FAILS(path, HasSubstr(path + GetParam().problem));
}

INSTANTIATE_TEST_SUITE_P(
    SafetensorsErrors, SafetensorsBadHeader,
    ::testing::Values(
        BadHeader{"SizesThatLie", R"({"w":{"dtype":"BF16","shape":[4,8],"data_offsets":[0,100]}})",
                  100, ": header says 100 bytes for tensor 'w' of shape [4, 8] bf16 (64 bytes)"},
        BadHeader{"OverlappingTensors",
                  R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                  R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                  24, ": tensors 'a' (bytes 0..16) and 'b' (bytes 8..24) overlap"},
        BadHeader{"OffsetsThatEndBeforeTheyBegin",
                  R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8,
                  ": tensor 'a' has data_offsets [8, 4] that end before they begin"},
        BadHeader{"InvalidJson", R"({"a":{"dtype":"F32",)", 0,
                  ":1: key 'a.dtype': invalid JSON: syntax error while parsing object key"},
        BadHeader{"UnknownDtype", R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", 16,
                  ": tensor 'a' has unsupported dtype \"F64\""},
        BadHeader{"EntryMissingAKey", R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8,
                  ": tensor 'a' has no 'shape'"},
        BadHeader{"NegativeShape", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8,
                  ": tensor 'a' has shape [-2]"},
        BadHeader{"NonStringMetadata", R"({"__metadata__":{"step":3}})", 0,
                  ": __metadata__ value for 'step' must be a string"},
        // Hostile headers: none may crash the reader, each names the file and the line.
        BadHeader{"DeeplyNested", std::string(100000, '['), 0, ":1: nested deeper than 64 levels"},
        BadHeader{"DeeplyNestedEntry",
                  R"({"a":{"dtype":"F32","shape":)" + std::string(1000, '[') + "2", 0,
                  ":1: nested deeper than 64 levels"},
        BadHeader{"PaddedWithNulBytes", std::string("{}\0\0\0\0\0\0", 8), 0,
                  ":1: NUL byte (JSON text cannot hold one)"},
        BadHeader{"NulBytesThenJunk", std::string("{}\0junk", 7), 0, ":1: NUL byte"},
        BadHeader{"NumberBeyondADouble",
                  R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e999]}})", 8,
                  ":1: key 'a.data_offsets': number 1e999 is beyond the range of a double"}),
    [](const ::testing::TestParamInfo<BadHeader>& info) { return std::string(info.param.name); });

TEST(SafetensorsErrors, IndexNamingAMissingShard) {
  TempDir dir;
  save_safetensors_sharded(dir.path(), sample_tensors(), 64);
  std::filesystem::remove(dir.file("model-00002-of-00003.safetensors"));
  EXPECT_OPEN_FAILS(dir.path(), HasSubstr(dir.file("model.safetensors.index.json") +
                                          ": shard model-00002-of-00003.safetensors not found"));
}

TEST(SafetensorsErrors, IndexNamingATensorTheShardLacks) {
  TempDir dir;
  save_safetensors_sharded(dir.path(), sample_tensors(), 64);
  json index = json::parse(read_text(dir.file("model.safetensors.index.json")));
  index["weight_map"]["lm_head.weight"] = "model-00001-of-00003.safetensors";
  write_text(dir.file("model.safetensors.index.json"), index.dump());
  EXPECT_OPEN_FAILS(dir.path(),
                    HasSubstr(dir.file("model.safetensors.index.json") +
                              ": tensor 'lm_head.weight' is mapped to "
                              "model-00001-of-00003.safetensors but that file has no such tensor"));
}

TEST(SafetensorsErrors, IndexWithoutAWeightMap) {
  TempDir dir;
  write_text(dir.file("model.safetensors.index.json"), R"({"metadata": {}})");
  EXPECT_OPEN_FAILS(dir.path(), HasSubstr(dir.file("model.safetensors.index.json") +
                                          ": no \"weight_map\" object"));
}

TEST(SafetensorsErrors, BothLayoutsInOneDirectory) {
  TempDir dir;
  save_safetensors_sharded(dir.path(), sample_tensors(), 64);
  save_safetensors(dir.file("model.safetensors"), sample_tensors());
  EXPECT_OPEN_FAILS(dir.path(),
                    HasSubstr(dir.path().string() + ": holds both model.safetensors and "
                                                    "model.safetensors.index.json"));
}

}  // namespace
}  // namespace neft::model
