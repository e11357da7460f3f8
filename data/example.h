// Supervised examples (a prompt and the response the model should learn to give) and how
// they become rows of a Batch. An example p1..pn r1..rm is laid out as the tokens
// p1..pn r1..rm with a loss on the response only: the target at pn is r1, at r1 is r2, ...,
// at r(m-1) is rm; every other target (the prompt, rm itself, padding) is kIgnoreIndex, and
// so is the target of a response token the example does not learn (Example::learned).
// Positions restart at 0 with each example; padding is token 0 at position 0.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "data/batch.h"

namespace neft::data {

struct Example {
  std::vector<int32_t> prompt, response;
  int task = -1;  // index into the source's task names, -1 if none
  // Which response tokens are learned (1) or only read (0), one per response token; empty
  // means all. A conversation's later user turns sit in the response, unlearned, between
  // the assistant turns that are learned.
  std::vector<uint8_t> learned;

  bool learns(size_t response_index) const {
    return learned.empty() || learned[response_index] != 0;
  }
};

inline int64_t example_tokens(const Example& e) {
  return int64_t(e.prompt.size() + e.response.size());
}

// Writes `e` into row `row` of `b` from column `col`; returns the column after it. A row's
// task becomes the example's task when the row holds only that task, -1 when mixed.
int64_t place_example(const Example& e, Batch& b, int64_t row, int64_t col);

// The example stream a source draws from: example k of an endless (or long enough) sequence.
using ExampleAt = std::function<Example(uint64_t k)>;

// Fills every row of `b` (which must be padding, see Batch::padded) from the stream,
// starting at example `cursor` and leaving it at the first example not used. packed: greedy,
// as many whole consecutive examples per row as fit in T (an example never straddles rows);
// unpacked: one example per row, left-aligned. Fails when an example is longer than T.
void fill_rows(Batch& b, bool packed, uint64_t& cursor, const ExampleAt& example_at);

}  // namespace neft::data
