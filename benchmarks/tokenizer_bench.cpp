// neft_tokenizer_bench: encode throughput of a tokenizer.json on a JSONL of {"text": ...}
// lines, one thread, in MB/s of UTF-8 input (the neft side of tokenizer_vs_hf.py).
//
//   neft_tokenizer_bench --tokenizer tests/golden/tokenizers/llama3
//       --input tests/golden/tokenizers/strings.jsonl [--passes 10] [--rounds 5] [--json]
//
// Each round loads the tokenizer afresh (so its piece cache starts empty, as in a new
// process) and encodes every line --passes times; the figure is the median round.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_util.h"
#include "runtime/error.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace neft;

int run(int argc, char** argv) {
  std::string tokenizer, input;
  int64_t passes = 10, rounds = 5;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail("neft_tokenizer_bench: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--tokenizer")
      tokenizer = value();
    else if (a == "--input")
      input = value();
    else if (a == "--passes")
      passes = bench::parse_count(a, value(), 1);
    else if (a == "--rounds")
      rounds = bench::parse_count(a, value(), 1);
    else if (a == "--json")
      json = true;
    else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: neft_tokenizer_bench --tokenizer FILE|DIR --input FILE.jsonl "
          "[--passes N] [--rounds N] [--json]\n");
      return 0;
    } else {
      fail("neft_tokenizer_bench: unknown option '", a, "' (try --help)");
    }
  }
  if (tokenizer.empty() || input.empty())
    fail("neft_tokenizer_bench: --tokenizer and --input are required (try --help)");
  std::vector<std::string> lines;
  std::ifstream in(input);
  if (!in) fail(input, ": cannot open for reading");
  size_t bytes = 0;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    bytes += lines.back().size();
  }
  std::vector<double> mbps;
  size_t tokens = 0;
  for (int64_t r = 0; r < rounds; ++r) {
    const auto tok = tokenizer::Tokenizer::load(tokenizer);
    tokens = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t p = 0; p < passes; ++p)
      for (const std::string& s : lines) tokens += tok->encode(s).size();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    mbps.push_back(double(bytes) * double(passes) / sec / 1e6);
  }
  const double m = bench::median(mbps);
  if (json)
    std::printf(
        "{\"framework\":\"neft\",\"mb_per_s\":%.3f,\"bytes\":%zu,\"lines\":%zu,"
        "\"tokens\":%zu,\"passes\":%lld,\"rounds\":%lld}\n",
        m, bytes, lines.size(), tokens / size_t(passes), (long long)passes, (long long)rounds);
  else
    std::printf(
        "%s: %zu lines, %zu bytes, %zu tokens; %lld passes a round, median of %lld "
        "rounds: %.2f MB/s\n",
        tokenizer.c_str(), lines.size(), bytes, tokens / size_t(passes), (long long)passes,
        (long long)rounds, m);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
