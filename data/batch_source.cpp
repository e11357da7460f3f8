// Batch sources and the factory (see batch_source.h).
#include "data/batch_source.h"

#include <cstdio>
#include <sstream>

#include "data/permutation.h"
#include "runtime/error.h"

namespace neft::data {

namespace {

// A position is the source's identity (what must match for the cursor to mean the same
// thing) plus one cursor into its stream.
nlohmann::json make_position(const char* kind, nlohmann::json identity, const char* cursor_key,
                             uint64_t cursor) {
  identity["kind"] = kind;
  identity[cursor_key] = cursor;
  return identity;
}

uint64_t restore_cursor(const nlohmann::json& p, const char* kind, const nlohmann::json& identity,
                        const char* cursor_key) {
  if (!p.is_object()) fail("data position must be a JSON object, got ", p.type_name());
  const auto k = p.find("kind");
  const std::string got = k == p.end()     ? std::string("?")
                          : k->is_string() ? k->get<std::string>()
                                           : k->dump();
  if (got != kind) fail("data position is for a '", got, "' source, not this '", kind, "' source");
  for (const auto& [key, value] : identity.items()) {
    const auto it = p.find(key);
    if (it == p.end()) fail("data position: missing \"", key, "\"");
    if (*it != value)
      fail("data position: \"", key, "\" is ", it->dump(), " but this ", kind, " source has ",
           value.dump());
  }
  const auto c = p.find(cursor_key);
  if (c == p.end() || !c->is_number_unsigned())
    fail("data position: \"", cursor_key, "\" must be a non-negative integer");
  return c->get<uint64_t>();
}

void check_shape(int64_t B, int64_t T) {
  if (B <= 0 || T <= 0) fail("batch shape must be positive, got B=", B, " T=", T);
}

nlohmann::json token_identity(const TokenSampler& s) {
  return {{"n_tokens", s.file().n_tokens()}, {"T", s.T()}, {"seed", s.seed()}};
}

// The examples' content, so that a position cannot resume over an edited file of the same
// length. A hex string: JSON readers other than ours may round 64-bit numbers.
std::string sft_fingerprint(const SftDataset& d) {
  uint64_t h = mix64(d.examples.size());
  for (const Example& e : d.examples) {
    for (const auto* part : {&e.prompt, &e.response}) {
      h = mix64(h ^ part->size());
      for (int32_t t : *part) h = mix64(h ^ uint64_t(uint32_t(t)));
    }
    for (uint8_t m : e.learned) h = mix64(h ^ m);
    h = mix64(h ^ uint64_t(uint32_t(e.task)));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

nlohmann::json sft_identity(const SftDataset& d, const std::string& fingerprint, uint64_t seed) {
  return {{"examples", d.examples.size()}, {"fingerprint", fingerprint}, {"seed", seed}};
}

nlohmann::json synthetic_identity(const SyntheticSuite& s) {
  const SyntheticLengths& l = s.lengths();
  return {
      {"tasks", s.tasks()}, {"seed", s.seed()}, {"lengths", {l.min_len, l.max_len, l.max_digits}}};
}

}  // namespace

BatchSource::~BatchSource() = default;

// --- token files ----------------------------------------------------------------------

TokenBatchSource::TokenBatchSource(TokenFile file, int64_t B, int64_t T, uint64_t seed)
    : sampler_(std::move(file), T, seed), B_(B) {
  check_shape(B, T);
}

Batch TokenBatchSource::next() {
  Batch b = Batch::padded(B_, sampler_.T());
  for (int64_t row = 0; row < B_; ++row)
    sampler_.fill_row(sampler_.window_at(next_window_++), b, row);
  return b;
}

nlohmann::json TokenBatchSource::position() const {
  return make_position("tokens", token_identity(sampler_), "next_window", next_window_);
}

void TokenBatchSource::restore(const nlohmann::json& p) {
  next_window_ = restore_cursor(p, "tokens", token_identity(sampler_), "next_window");
}

// --- examples (SFT and synthetic) -------------------------------------------------------

ExampleBatchSource::ExampleBatchSource(int64_t B, int64_t T, bool packed)
    : B_(B), T_(T), packed_(packed) {
  check_shape(B, T);
}

Batch ExampleBatchSource::next() {
  Batch b = Batch::padded(B_, T_);
  fill_rows(b, packed_, next_example_, [this](uint64_t k) { return example_at(k); });
  return b;
}

SftBatchSource::SftBatchSource(SftDataset data, int64_t B, int64_t T, uint64_t seed, bool packed)
    : ExampleBatchSource(B, T, packed),
      data_(std::move(data)),
      fingerprint_(sft_fingerprint(data_)),
      seed_(seed) {
  NEFT_CHECK(!data_.examples.empty(), data_.path, ": no examples");
  for (size_t i = 0; i < data_.examples.size(); ++i)
    if (example_tokens(data_.examples[i]) > T)
      fail(data_.path, ":", data_.lines[i], ": example has ", example_tokens(data_.examples[i]),
           " tokens, more than the sequence length T=", T);
}

Example SftBatchSource::example_at(uint64_t k) const {
  const uint64_t n = data_.examples.size();
  const SeededPermutation order(n, seed_, k / n);  // a new order every epoch
  return data_.examples[order(k % n)];
}

nlohmann::json SftBatchSource::position() const {
  return make_position("sft", sft_identity(data_, fingerprint_, seed_), "next_example",
                       next_example_);
}

void SftBatchSource::restore(const nlohmann::json& p) {
  next_example_ =
      restore_cursor(p, "sft", sft_identity(data_, fingerprint_, seed_), "next_example");
}

SyntheticBatchSource::SyntheticBatchSource(SyntheticSuite suite, int64_t B, int64_t T, bool packed)
    : ExampleBatchSource(B, T, packed), suite_(std::move(suite)) {
  if (suite_.max_example_tokens() > T)
    fail("synthetic suite: examples reach ", suite_.max_example_tokens(),
         " tokens, more than the sequence length T=", T);
}

Example SyntheticBatchSource::example_at(uint64_t k) const {
  const uint64_t n = uint64_t(suite_.num_tasks());
  return suite_.example(int(k % n), k / n, Split::Train);
}

nlohmann::json SyntheticBatchSource::position() const {
  return make_position("synthetic", synthetic_identity(suite_), "next_example", next_example_);
}

void SyntheticBatchSource::restore(const nlohmann::json& p) {
  next_example_ = restore_cursor(p, "synthetic", synthetic_identity(suite_), "next_example");
}

// --- factory ----------------------------------------------------------------------------

std::unique_ptr<BatchSource> make_batch_source(const std::string& spec, int64_t B, int64_t T,
                                               uint64_t seed, const SourceOptions& options) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const bool has_arg = colon != std::string::npos;
  if (kind == "synthetic") {
    if (options.vocab > 0 && options.vocab < SyntheticSuite::kVocab)
      fail("data spec '", spec, "': the synthetic suite needs vocab >= ", SyntheticSuite::kVocab,
           ", the model has ", options.vocab);
    std::vector<std::string> tasks;
    std::istringstream names(arg);
    for (std::string name; std::getline(names, name, ',');) {
      if (name.empty()) fail("data spec '", spec, "': empty task name");
      tasks.push_back(name);
    }
    if (has_arg && tasks.empty()) fail("data spec '", spec, "': no tasks after ':'");
    if (!has_arg) tasks = SyntheticSuite::all_tasks();
    return std::make_unique<SyntheticBatchSource>(SyntheticSuite(tasks, seed), B, T,
                                                  options.packed);
  }
  if ((kind == "tokens" || kind == "sft") && has_arg && !arg.empty()) {
    if (kind == "tokens" && !options.tasks.empty())
      fail("data spec '", spec, "': a token file has no tasks to choose from (--tasks is for ",
           "synthetic and sft data)");
    if (kind == "tokens")
      return std::make_unique<TokenBatchSource>(TokenFile(arg, options.vocab), B, T, seed);
    const SftDataset data =
        load_sft_jsonl(arg, {options.vocab, options.model, false, options.tasks});
    return std::make_unique<SftBatchSource>(data, B, T, seed, options.packed);
  }
  fail("data spec '", spec,
       "' is not one of synthetic, synthetic:TASK[,TASK...], tokens:PATH, sft:PATH.jsonl");
}

}  // namespace neft::data
