// What the golden tests share: where the fixtures are (tests/golden/, made by transformers),
// loading one's model, and the error measure they are held to.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/hf_checkpoint.h"
#include "model/llama.h"

namespace neft::testing {

// The source tree the build was configured from, unless $NEFT_SOURCE_DIR names another copy:
// built tests carried to a GPU machine (scripts/gpu/) find the fixtures in its checkout.
inline std::string fixture_dir(const std::string& name) {
  const char* moved = std::getenv("NEFT_SOURCE_DIR");
  return std::string(moved && *moved ? moved : NEFT_SOURCE_DIR) + "/tests/golden/" + name;
}

// The fixture's HF-saved model: f32 on the CPU, bf16 on CUDA.
inline std::unique_ptr<model::LlamaModel> load_fixture_model(const std::string& dir, Device d) {
  auto m = std::make_unique<model::LlamaModel>(
      model::load_hf_config(dir + "/config.json"),
      model::ModelOptions{d, d == Device::CUDA ? DType::BF16 : DType::F32});
  model::load_hf_weights(*m, model::Checkpoint(dir));
  return m;
}

// max |a - b| / max |b|: the error relative to the tensor's scale.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / std::max(scale, 1e-12);
}

}  // namespace neft::testing
