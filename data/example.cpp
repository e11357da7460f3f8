// Examples into batch rows (see example.h).
#include "data/example.h"

#include <algorithm>
#include <optional>

#include "runtime/error.h"

namespace neft::data {

int64_t place_example(const Example& e, Batch& b, int64_t row, int64_t col) {
  const int64_t n = int64_t(e.prompt.size()), len = example_tokens(e);
  NEFT_CHECK(!e.prompt.empty() && !e.response.empty(),
             "an example needs a prompt and a response to learn from");
  NEFT_CHECK(e.learned.empty() || e.learned.size() == e.response.size(), "an example's mask has ",
             e.learned.size(), " entries for ", e.response.size(), " response tokens");
  NEFT_CHECK(row >= 0 && row < b.B && col >= 0 && col + len <= b.T, "example of ", len,
             " tokens at column ", col, " does not fit a row of T=", b.T);
  const size_t at = size_t(row * b.T + col);
  for (int64_t i = 0; i < len; ++i) {
    b.tokens[at + i] = i < n ? e.prompt[size_t(i)] : e.response[size_t(i - n)];
    b.positions[at + i] = int32_t(i);
    // Position i predicts token i + 1, which is learned only when it is a response token.
    const bool learned = i + 1 >= n && i + 1 < len && e.learns(size_t(i + 1 - n));
    b.targets[at + i] = learned ? e.response[size_t(i + 1 - n)] : kIgnoreIndex;
  }
  b.real = std::max<int64_t>(b.real, 0) + len;
  int32_t& task = b.task[size_t(row)];
  task = (col == 0 || task == e.task) ? e.task : -1;
  return col + len;
}

void fill_rows(Batch& b, bool packed, uint64_t& cursor, const ExampleAt& example_at) {
  std::optional<Example> pending;  // drawn but did not fit the previous row
  for (int64_t row = 0; row < b.B; ++row) {
    int64_t col = 0;
    while (true) {
      if (!pending) pending = example_at(cursor);
      const int64_t len = example_tokens(*pending);
      if (len > b.T) fail("example ", cursor, " has ", len, " tokens, more than T=", b.T);
      if (col + len > b.T) break;
      col = place_example(*pending, b, row, col);
      pending.reset();
      ++cursor;
      if (!packed) break;
    }
  }
}

}  // namespace neft::data
