// BatchSource: the one interface the training loop draws micro-batches from, whatever the
// data (token files, JSONL SFT examples, the synthetic suite). Every source is an endless,
// deterministic stream fixed by (data, B, T, seed); position() is a small JSON value and
// restore(position()) continues the stream exactly where it was, so a resumed run sees the
// same batches as an uninterrupted one.
//
// Sources:
//   tokens:PATH         TokenSampler windows, reshuffled every epoch
//   sft:PATH.jsonl      examples (sft.h: text, conversations, token ids) in a seeded order
//   reshuffled every epoch, packed or one per
//                       row; an example longer than T is an error naming its line (examples
//                       are never truncated: a cut-off response teaches the wrong thing)
//   synthetic[:a,b,..]  the synthetic suite's train split, tasks interleaved round-robin
//                       (stream example k is task k mod n_tasks, index k / n_tasks)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/batch.h"
#include "data/sft.h"
#include "data/synthetic.h"
#include "data/token_sampler.h"

namespace neft::data {

class BatchSource {
 public:
  virtual ~BatchSource();
  virtual Batch next() = 0;
  virtual nlohmann::json position() const = 0;
  // Fails with a one-line message when the position belongs to another kind of source or
  // to the same kind with other data or seed.
  virtual void restore(const nlohmann::json& position) = 0;
};

class TokenBatchSource final : public BatchSource {
 public:
  TokenBatchSource(TokenFile file, int64_t B, int64_t T, uint64_t seed);
  Batch next() override;
  nlohmann::json position() const override;
  void restore(const nlohmann::json& position) override;

 private:
  TokenSampler sampler_;
  int64_t B_;
  uint64_t next_window_ = 0;  // in the endless stream of epochs
};

// Packed (greedy whole examples per row) or one example per row.
class ExampleBatchSource : public BatchSource {
 public:
  Batch next() override;

 protected:
  ExampleBatchSource(int64_t B, int64_t T, bool packed);
  virtual Example example_at(uint64_t k) const = 0;
  int64_t B_, T_;
  bool packed_;
  uint64_t next_example_ = 0;
};

class SftBatchSource final : public ExampleBatchSource {
 public:
  SftBatchSource(SftDataset data, int64_t B, int64_t T, uint64_t seed, bool packed = true);
  const SftDataset& data() const { return data_; }
  nlohmann::json position() const override;
  void restore(const nlohmann::json& position) override;

 private:
  Example example_at(uint64_t k) const override;
  SftDataset data_;
  std::string fingerprint_;  // of the examples' content
  uint64_t seed_;
};

class SyntheticBatchSource final : public ExampleBatchSource {
 public:
  SyntheticBatchSource(SyntheticSuite suite, int64_t B, int64_t T, bool packed = true);
  const SyntheticSuite& suite() const { return suite_; }
  nlohmann::json position() const override;
  void restore(const nlohmann::json& position) override;

 private:
  Example example_at(uint64_t k) const override;
  SyntheticSuite suite_;
};

struct SourceOptions {
  int32_t vocab =
      0;  // > 0: check token ids against it (tokens, sft) or that it holds 64 (synthetic)
  bool packed = true;              // sft and synthetic: several examples per row
  std::string model;               // sft: the model directory whose tokenizer reads text lines
  std::vector<std::string> tasks;  // sft: only these tasks' lines (data/sft.h); empty: all
};

// spec: "synthetic", "synthetic:copy,reverse", "tokens:PATH" or "sft:PATH.jsonl".
std::unique_ptr<BatchSource> make_batch_source(const std::string& spec, int64_t B, int64_t T,
                                               uint64_t seed, const SourceOptions& options = {});

}  // namespace neft::data
