// The synthetic multi-task suite (see synthetic.h).
#include "data/synthetic.h"

#include <algorithm>

#include "data/permutation.h"
#include "runtime/error.h"
#include "runtime/rng.h"

namespace neft::data {

namespace {

enum Kind { kCopy, kReverse, kSort, kShift, kDedup, kAdd };

// Draws beyond this many per example mean the task's input space is too small to split.
constexpr uint32_t kMaxAttempts = 4096;

// Random words for one attempt at one example: a Philox stream keyed by the seed whose
// counter holds (index, split, tag, attempt, word block), so examples never share words.
class ExampleRng {
 public:
  ExampleRng(uint64_t seed, uint64_t index, Split split, int kind, uint32_t attempt)
      : seed_(seed),
        index_(index),
        stream_(uint64_t(split) << 56 | uint64_t(kind) << 48 | uint64_t(attempt) << 32) {}

  // Uniform in [lo, hi] (multiply-shift: a bias below 2^-24 for these small ranges).
  int32_t uniform(int32_t lo, int32_t hi) {
    if (used_ == 4) {
      words_ = rng::random_words(seed_, stream_ | block_++, index_);
      used_ = 0;
    }
    const uint64_t range = uint64_t(hi - lo) + 1;
    return lo + int32_t((uint64_t(words_.v[used_++]) * range) >> 32);
  }

 private:
  uint64_t seed_, index_, stream_;
  uint32_t block_ = 0;
  rng::U32x4 words_{};
  int used_ = 4;
};

int32_t symbol(ExampleRng& r) {
  return r.uniform(SyntheticSuite::kFirstSymbol,
                   SyntheticSuite::kFirstSymbol + SyntheticSuite::kNumSymbols - 1);
}

// A number of 1..max_digits digits, least-significant digit first, no leading zero.
std::vector<int32_t> number(ExampleRng& r, int max_digits) {
  const int digits = r.uniform(1, max_digits);
  std::vector<int32_t> n(static_cast<size_t>(digits));
  for (int i = 0; i < digits; ++i) {
    const bool top = i == digits - 1 && digits > 1;
    n[size_t(i)] = SyntheticSuite::kFirstDigit + r.uniform(top ? 1 : 0, 9);
  }
  return n;
}

std::vector<int32_t> draw_input(int kind, ExampleRng& r, const SyntheticLengths& len) {
  if (kind == kAdd) {
    std::vector<int32_t> x = number(r, len.max_digits);
    x.push_back(SyntheticSuite::kPlus);
    const std::vector<int32_t> b = number(r, len.max_digits);
    x.insert(x.end(), b.begin(), b.end());
    return x;
  }
  const int n = r.uniform(len.min_len, len.max_len);
  std::vector<int32_t> x;
  for (int i = 0; i < n; ++i) {
    // dedup needs repeats to be worth learning: half the symbols repeat an earlier one.
    const bool repeat = kind == kDedup && i > 0 && r.uniform(0, 1) == 1;
    x.push_back(repeat ? x[size_t(r.uniform(0, i - 1))] : symbol(r));
  }
  return x;
}

std::vector<int32_t> answer(int kind, std::vector<int32_t> x) {
  constexpr int32_t first = SyntheticSuite::kFirstSymbol, count = SyntheticSuite::kNumSymbols;
  switch (kind) {
    case kCopy:
      return x;
    case kReverse:
      std::reverse(x.begin(), x.end());
      return x;
    case kSort:
      std::sort(x.begin(), x.end());
      return x;
    case kShift:
      for (int32_t& s : x) s = first + (s - first + 1) % count;
      return x;
    case kDedup: {
      std::vector<int32_t> y;
      for (int32_t s : x)
        if (std::find(y.begin(), y.end(), s) == y.end()) y.push_back(s);
      return y;
    }
    case kAdd: {
      const auto plus = std::find(x.begin(), x.end(), SyntheticSuite::kPlus);
      const std::vector<int32_t> a(x.begin(), plus), b(plus + 1, x.end());
      std::vector<int32_t> sum;
      int carry = 0;
      for (size_t i = 0; i < std::max(a.size(), b.size()) || carry; ++i) {
        const int d = carry + (i < a.size() ? a[i] - SyntheticSuite::kFirstDigit : 0) +
                      (i < b.size() ? b[i] - SyntheticSuite::kFirstDigit : 0);
        sum.push_back(SyntheticSuite::kFirstDigit + d % 10);
        carry = d / 10;
      }
      return sum;
    }
  }
  fail("synthetic suite: unknown task kind ", kind);
}

std::string known_tasks() {
  std::string s;
  for (const std::string& t : SyntheticSuite::all_tasks()) s += (s.empty() ? "" : ", ") + t;
  return s;
}

}  // namespace

const std::vector<std::string>& SyntheticSuite::all_tasks() {
  // Order fixes the tag ids: append new tasks, never reorder.
  static const std::vector<std::string> names{"copy", "reverse", "sort", "shift", "dedup", "add"};
  return names;
}

SyntheticSuite::SyntheticSuite(std::vector<std::string> tasks, uint64_t seed,
                               SyntheticLengths lengths)
    : tasks_(std::move(tasks)), seed_(seed), lengths_(lengths) {
  if (tasks_.empty()) fail("synthetic suite: no tasks given (known: ", known_tasks(), ")");
  for (const std::string& name : tasks_) {
    const auto& all = all_tasks();
    const auto it = std::find(all.begin(), all.end(), name);
    if (it == all.end())
      fail("synthetic suite: unknown task '", name, "' (known: ", known_tasks(), ")");
    if (std::count(tasks_.begin(), tasks_.end(), name) > 1)
      fail("synthetic suite: task '", name, "' listed twice");
    kinds_.push_back(int(it - all.begin()));
  }
  if (lengths.min_len < 1 || lengths.min_len > lengths.max_len || lengths.max_len > 256)
    fail("synthetic suite: lengths need 1 <= min_len <= max_len <= 256, got min_len=",
         lengths.min_len, " max_len=", lengths.max_len);
  if (lengths.max_digits < 1 || lengths.max_digits > 64)
    fail("synthetic suite: max_digits must be in [1, 64], got ", lengths.max_digits);
}

const std::string& SyntheticSuite::task_name(int task) const {
  NEFT_CHECK(task >= 0 && task < num_tasks(), "synthetic suite: task ", task, " out of range (",
             num_tasks(), " tasks)");
  return tasks_[size_t(task)];
}

int SyntheticSuite::task_index(const std::string& name) const {
  const auto it = std::find(tasks_.begin(), tasks_.end(), name);
  return it == tasks_.end() ? -1 : int(it - tasks_.begin());
}

int32_t SyntheticSuite::tag(int task) const {
  task_name(task);  // range check
  return kFirstTag + kinds_[size_t(task)];
}

int64_t SyntheticSuite::max_example_tokens() const {
  int64_t longest = 0;
  for (int kind : kinds_) {
    // [BOS, TAG, x.., SEP] + [y.., EOS]; add's sum has at most one digit more than its
    // longer operand, every other answer is at most as long as its input.
    const int64_t d = lengths_.max_digits;
    longest = std::max(longest, kind == kAdd ? (2 * d + 4) + (d + 2) : 2 * lengths_.max_len + 4);
  }
  return longest;
}

const char* split_name(Split split) {
  switch (split) {
    case Split::Train:
      return "train";
    case Split::Eval:
      return "eval";
    case Split::Validation:
      return "validation";
  }
  return "?";
}

Split parse_held_out_split(const std::string& name) {
  if (name == "eval") return Split::Eval;
  if (name == "validation") return Split::Validation;
  fail("unknown held-out split '", name, "' (eval or validation)");
}

Split SyntheticSuite::split_of(const std::vector<int32_t>& prompt) {
  uint64_t h = 0x6E6566742D73706Cull;  // fixed: membership must not depend on any seed
  for (int32_t t : prompt) h = mix64(h ^ uint64_t(uint32_t(t)));
  // Train keeps exactly the inputs it had before validation was split off eval.
  const uint64_t r = h % (2 * kHeldOutOneIn);
  return r == 0 ? Split::Eval : r == kHeldOutOneIn ? Split::Validation : Split::Train;
}

Example SyntheticSuite::example(int task, uint64_t index, Split split) const {
  const int32_t tag_id = tag(task);
  const int kind = kinds_[size_t(task)];
  for (uint32_t attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ExampleRng r(seed_, index, split, kind, attempt);
    const std::vector<int32_t> x = draw_input(kind, r, lengths_);
    Example e;
    e.task = task;
    e.prompt = {kBos, tag_id};
    e.prompt.insert(e.prompt.end(), x.begin(), x.end());
    e.prompt.push_back(kSep);
    if (split_of(e.prompt) != split) continue;
    e.response = answer(kind, x);
    e.response.push_back(kEos);
    return e;
  }
  fail("synthetic task '", tasks_[size_t(task)], "': no ", split_name(split), " input found in ",
       kMaxAttempts,
       " draws (too few possible inputs to hold some out; raise max_len or max_digits)");
}

}  // namespace neft::data
