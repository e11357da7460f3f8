// GGUF reading and import without the real model: each tensor type dequantized to the values
// its block format defines (hand-computed here), a small Llama written as llama.cpp writes one
// (its q/k rows reordered, tensors in ggml's dimension order, a byte-level vocabulary)
// imported back to exactly its weights and a working tokenizer, and broken files refused in
// one line naming the file and the tensor.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/gguf.h"
#include "model/gguf_import.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "runtime/dtype.h"
#include "tests/unit/error_of.h"
#include "tests/unit/model/gguf_writer.h"
#include "tests/unit/model/synthetic_gguf.h"
#include "tests/unit/temp_dir.h"
#include "tokenizer/tokenizer.h"

namespace neft::model {
namespace {

using neft::testing::GgufWriter;
using neft::testing::synthetic_gguf;

std::string f16_bytes(float x) {
  std::string s;
  GgufWriter::put(s, f32_to_f16_bits(x));
  return s;
}

std::vector<float> read_one(const std::string& path) {
  const GgufFile g(path);
  return g.read_f32(g.tensors().at(0));
}

std::string write(neft::testing::TempDir& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir.file(name), std::ios::binary) << bytes;
  return dir.file(name);
}

// Block layouts (ggml's): Q8_0 {f16 d, 32 x int8}, Q4_0 {f16 d, 16 bytes}, Q4_1 {f16 d, f16 m,
// 16 bytes}; byte j of a 4-bit block holds element j in its low nibble, j + 16 in its high.
TEST(Gguf, EachTypeDequantizesToItsDefinition) {
  neft::testing::TempDir dir;
  auto one = [&](uint32_t type, const std::string& data, uint64_t n) {
    GgufWriter w;
    w.tensor("t", {n}, type, data);
    return read_one(write(dir, "t.gguf", w.bytes()));
  };
  std::string f32;
  for (float x : {1.5f, -2.0f}) GgufWriter::put(f32, x);
  EXPECT_EQ(one(0, f32, 2), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(one(1, f16_bytes(0.25f) + f16_bytes(-3.0f), 2), (std::vector<float>{0.25f, -3.0f}));
  std::string bf16;
  GgufWriter::put(bf16, uint16_t(0x3FC0));  // 1.5
  GgufWriter::put(bf16, uint16_t(0xC100));  // -8
  EXPECT_EQ(one(30, bf16, 2), (std::vector<float>{1.5f, -8.0f}));

  std::string q8 = f16_bytes(0.5f);
  for (int j = 0; j < 32; ++j) q8 += char(int8_t(j - 16));
  const std::vector<float> v8 = one(8, q8, 32);
  EXPECT_EQ(v8[0], -8.0f);
  EXPECT_EQ(v8[31], 7.5f);

  std::string q40 = f16_bytes(0.5f);
  for (int j = 0; j < 16; ++j) q40 += char((15 - j) << 4 | j);  // low j, high 15 - j
  const std::vector<float> v40 = one(2, q40, 32);
  EXPECT_EQ(v40[0], -4.0f);  // (0 - 8) * 0.5
  EXPECT_EQ(v40[15], 3.5f);  // (15 - 8) * 0.5
  EXPECT_EQ(v40[16], 3.5f);  // element 16: the high nibble of byte 0, 15
  EXPECT_EQ(v40[31], -4.0f);

  std::string q41 = f16_bytes(0.25f) + f16_bytes(-1.0f);
  for (int j = 0; j < 16; ++j) q41 += char((15 - j) << 4 | j);
  const std::vector<float> v41 = one(3, q41, 32);
  EXPECT_EQ(v41[0], -1.0f);   // 0 * 0.25 - 1
  EXPECT_EQ(v41[15], 2.75f);  // 15 * 0.25 - 1
  EXPECT_EQ(v41[16], 2.75f);
}

TEST(Gguf, ImportGivesBackTheWeightsAndATokenizer) {
  neft::testing::TempDir dir;
  const neft::testing::SyntheticGguf s = synthetic_gguf();
  import_gguf(write(dir, "m.gguf", s.bytes), dir.file("hf"));
  const LlamaConfig c = load_hf_config(dir.file("hf") + "/config.json");
  EXPECT_EQ(c.kv_heads, 2);
  EXPECT_EQ(c.rope_theta, 500000.0f);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.bos_token_id, 256);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{257});
  LlamaModel m(c);
  load_hf_weights(m, Checkpoint(dir.file("hf")));
  for (Parameter* p : m.parameters())
    EXPECT_EQ(p->value.to_floats(), s.model->parameter(p->name).value.to_floats()) << p->name;
  const auto tok = tokenizer::Tokenizer::load(dir.file("hf"));
  // <s> is whole, "ab" merges, the space is byte 32's token, the digits stand alone (smollm).
  EXPECT_EQ(tok->encode("<s>ab 12"), (std::vector<int32_t>{256, 258, 32, 49, 50}));
  EXPECT_EQ(tok->decode(tok->encode("<s>ab 12")), "<s>ab 12");
  EXPECT_TRUE(std::filesystem::exists(dir.file("hf") + "/tokenizer_config.json"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("hf") + "/generation_config.json"));
}

TEST(Gguf, BrokenFilesAreOneLineErrors) {
  neft::testing::TempDir dir;
  const std::string out = dir.file("hf");
  auto import_error = [&](const std::string& bytes) {
    const std::string path = write(dir, "bad.gguf", bytes);
    return neft::testing::error_of([&] { import_gguf(path, out); });
  };
  EXPECT_NE(import_error(synthetic_gguf(14).bytes)
                .find("tensor 'blk.0.attn_q.weight' is Q6_K, which is not read"),
            std::string::npos);
  const std::string whole = synthetic_gguf().bytes;
  EXPECT_NE(import_error(whole.substr(0, whole.size() - 100)).find("runs past the end of the file"),
            std::string::npos);
  EXPECT_NE(import_error("GGML" + whole.substr(4)).find("not a GGUF file"), std::string::npos);
  EXPECT_NE(import_error(whole.substr(0, 30)).find("truncated"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace neft::model
