// Loading HF weights refuses what would otherwise train silently on a wrong model: tensors
// the model does not have, a NaN in a weight, a weight file that is a dangling link.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "runtime/ops/cast.h"
#include "tests/unit/error_of.h"
#include "tests/unit/temp_dir.h"

namespace neft::model {
namespace {

using ::neft::testing::error_of;
using ::neft::testing::TempDir;
using ::testing::HasSubstr;

// The model's own weights, set (a model starts with its memory uninitialised).
NamedTensors weights_of(LlamaModel& m) {
  m.init_random(7);
  NamedTensors out;
  for (Parameter* p : m.parameters()) out.push_back({p->name, p->value});
  return out;
}

Tensor as_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = Tensor::empty(t.shape(), dtype);
  ops::cast(t, out);
  return out;
}

Tensor filled(const Shape& shape, float value) {
  Tensor t = Tensor::zeros(shape, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value;
  return t;
}

std::string load_error(const std::string& preset_name, const NamedTensors& tensors) {
  TempDir dir;
  save_safetensors(dir.file(kSafetensorsFile), tensors);
  LlamaModel m(preset(preset_name));
  return error_of([&] { load_hf_weights(m, Checkpoint(dir.path())); });
}

TEST(HfWeights, ATensorTheModelDoesNotHaveIsAnError) {
  LlamaModel m(preset("tiny"));
  NamedTensors w = weights_of(m);
  w.push_back({"model.layers.0.mlp.extra_proj.weight", filled({2, 2}, 1.0f)});
  EXPECT_THAT(load_error("tiny", w),
              HasSubstr(": tensor 'model.layers.0.mlp.extra_proj.weight' is not a weight of tiny"));
}

TEST(HfWeights, ALayerBeyondTheConfigIsAnError) {
  LlamaModel m(preset("tiny"));
  NamedTensors w = weights_of(m);
  w.push_back({"model.layers.4.mlp.up_proj.weight", filled({2, 2}, 1.0f)});
  w.push_back({"vision_tower.weight", filled({2, 2}, 1.0f)});
  EXPECT_THAT(load_error("tiny", w),
              HasSubstr("'model.layers.4.mlp.up_proj.weight' is not a weight of tiny (4 layers) "
                        "(and 1 more)"));
}

// What transformers skips quietly is skipped here too.
TEST(HfWeights, RotaryBuffersAndATiedModelsHeadAreIgnored) {
  LlamaModel m(preset("tiny-tied"));
  NamedTensors w = weights_of(m);
  w.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", filled({16}, 1.0f)});
  w.push_back({"lm_head.weight", filled({m.config().vocab, m.config().hidden}, 0.5f)});
  EXPECT_EQ(load_error("tiny-tied", w), "");
}

TEST(HfWeights, NonFiniteValuesAreAnErrorNamingTheTensor) {
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    for (const DType dtype : {DType::F32, DType::BF16, DType::F16}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " " + std::to_string(bad));
      LlamaModel m(preset("tiny"));
      NamedTensors w = weights_of(m);
      for (auto& [name, t] : w) {
        if (name == "model.layers.2.mlp.down_proj.weight") {
          t = t.clone();
          t.data<float>()[70] = bad;
        }
        t = as_dtype(t, dtype);
      }
      EXPECT_THAT(load_error("tiny", w),
                  HasSubstr(": tensor 'model.layers.2.mlp.down_proj.weight' holds a NaN or Inf "
                            "(element 70 of [128, 384])"));
    }
  }
}

// A rank reading only its own columns still checks them, and names the element in the
// whole tensor.
TEST(HfWeights, ColumnShardsAreCheckedToo) {
  TempDir dir;
  Tensor t = filled({4, 6}, 1.0f);
  t.data<float>()[2 * 6 + 4] = std::numeric_limits<float>::quiet_NaN();
  save_safetensors(dir.file("w.safetensors"), {{"w", t}});
  const SafetensorsFile file(dir.file("w.safetensors"));
  EXPECT_NO_THROW(file.read_cols("w", 0, 3, DType::F32));
  EXPECT_THAT(error_of([&] { file.read_cols("w", 3, 3, DType::F32); }),
              HasSubstr("tensor 'w' holds a NaN or Inf (element 16 of [4, 6])"));
  EXPECT_NO_THROW(file.read_rows("w", 0, 2, DType::F32));
}

TEST(HfWeights, ADanglingLinkSaysWhereItPoints) {
  TempDir dir;
  std::filesystem::create_symlink("../blobs/0123abcd", dir.file(kSafetensorsFile));
  EXPECT_TRUE(has_hf_weights(dir.path()));
  EXPECT_THAT(error_of([&] { Checkpoint c(dir.path()); }),
              HasSubstr(kSafetensorsFile + std::string(": it is a symbolic link to "
                                                       "'../blobs/0123abcd', and ")));
}

}  // namespace
}  // namespace neft::model
