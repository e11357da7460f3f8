// `neft analyze deactivate`, `neft analyze overlap` and `neft eval --deactivate` as a user runs
// them: the deactivation table's rows and its JSONL (the set's row is what `neft eval
// --deactivate` reports), the overlap tables and JSONL, and bad input (a set for another
// model, too few sets, an unknown analysis) as one line naming it.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "neuron/neuron_set.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/jsonl.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using namespace ::neft::launch::testing;

const std::vector<std::string> kData = {"--tasks", "copy,shift", "--seq-len", "32", "--seed", "7"};

// A base model (tiny, two steps) and attribution sets of 5% of its neurons for two tasks.
struct Fixture {
  TempDir dir;
  std::string base, copy, shift;
  Fixture() {
    base = dir.file("base");
    EXPECT_EQ(neft(with({"train", "--out", base, "--steps", "2", "--log-every", "100",
                         "--eval-examples", "2", "--micro-batch", "4"},
                        kData))
                  .status,
              0);
    base += "/model";
    copy = select("copy");
    shift = select("shift");
  }
  std::string select(const std::string& task) {
    const std::string scores = dir.file(task + "-scores.safetensors"),
                      out = dir.file(task + ".safetensors");
    EXPECT_EQ(neft({"score", "--init", base, "--tasks", task, "--seq-len", "32", "--scorer",
                    "attribution", "--score-batches", "2", "--kinds", "all", "--out", scores})
                  .status,
              0);
    EXPECT_EQ(neft({"select", "--scores", scores, "--model", base, "--budget", "5%", "--out", out})
                  .status,
              0);
    return out;
  }
};

TEST(AnalyzeE2E, DeactivateComparesTheSetWithRandomSetsOfItsKinds) {
  Fixture f;
  const std::string log = f.dir.file("deactivate.jsonl");
  const Result r = neft(with({"analyze", "deactivate", "--model", f.base, "--neurons", f.copy,
                              "--random-sets", "3", "--examples", "16", "--out", log},
                             kData));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| none | 0 | copy |"), std::string::npos) << r.out;
  const size_t neurons = neuron::load_neuron_set(f.copy).ids.size();
  EXPECT_NE(r.out.find("| copy | " + std::to_string(neurons) + " | shift |"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("| random (3 sets) | " + std::to_string(neurons) + " | copy | "),
            std::string::npos)
      << r.out;
  const std::vector<nlohmann::json> lines = ::neft::testing::read_jsonl(log);
  ASSERT_EQ(lines.size(), 2u * (1 + 1 + 3));  // two tasks x (none, the set, three random)

  // `neft eval --deactivate` reports the set's row.
  const Result e = neft(with(
      {"eval", "--model", f.base, "--deactivate", f.copy, "--examples", "16", "--json"}, kData));
  ASSERT_EQ(e.status, 0) << e.err;
  const nlohmann::json tasks = nlohmann::json::parse(e.out)["tasks"];
  for (const nlohmann::json& l : lines) {
    const nlohmann::json& reported = tasks[l["task"].get<std::string>()]["loss"];
    if (l["zeroed"] == "set") {
      EXPECT_EQ(reported, l["loss"]);
    }
    if (l["zeroed"] == "none") {
      EXPECT_NE(reported, l["loss"]);
    }
  }
}

TEST(AnalyzeE2E, OverlapGivesTheMatrixAndEachLayer) {
  Fixture f;
  const std::string log = f.dir.file("overlap.jsonl");
  const Result r =
      neft({"analyze", "overlap", "copy=" + f.copy, "shift=" + f.shift, f.copy, "--out", log});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| IoU | copy | shift | copy |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| layer | copy ∩ shift | copy ∩ copy | shift ∩ copy |"), std::string::npos)
      << r.out;
  const std::vector<nlohmann::json> lines = ::neft::testing::read_jsonl(log);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["iou"], 1.0);  // a set with itself
  EXPECT_EQ(lines[1]["layer_iou"].size(), 4u);
  const double iou = lines[0]["iou"];
  EXPECT_EQ(lines[0]["common"].get<double>() / lines[0]["union"].get<double>(), iou);
}

TEST(AnalyzeE2E, BadInputIsAOneLineError) {
  Fixture f;
  TempDir& dir = f.dir;
  const std::string big = dir.file("big.safetensors"), big_set = dir.file("big-set.safetensors");
  ASSERT_EQ(neft({"score", "--model", "small-20m", "--scorer", "random", "--out", big}).status, 0);
  ASSERT_EQ(
      neft({"select", "--scores", big, "--model", "small-20m", "--budget", "1%", "--out", big_set})
          .status,
      0);
  const std::string tiny = dir.file("tiny.safetensors"),
                    tiny_set = dir.file("tiny-set.safetensors");
  ASSERT_EQ(neft({"score", "--model", "tiny", "--scorer", "random", "--out", tiny}).status, 0);
  ASSERT_EQ(
      neft({"select", "--scores", tiny, "--model", "tiny", "--budget", "1%", "--out", tiny_set})
          .status,
      0);
  // A set for another model.
  expect_one_line_error(
      neft({"analyze", "deactivate", "--model", f.base, "--neurons", big_set}),
      {"analyze deactivate: error: ", "big-set.safetensors", "num_hidden_layers 6"});
  expect_one_line_error(neft({"eval", "--model", f.base, "--deactivate", big_set}),
                        {"eval: error: ", "big-set.safetensors", "num_hidden_layers 6"});
  expect_one_line_error(neft({"analyze", "overlap", tiny_set, big_set}),
                        {"big-set.safetensors", "num_hidden_layers 6", "tiny-set.safetensors"});
  expect_one_line_error(neft({"analyze", "overlap", tiny_set}), {"at least two"});
  expect_one_line_error(neft({"analyze", "overlap", tiny_set, dir.file("missing.safetensors")}),
                        {"missing.safetensors"});
  expect_one_line_error(neft({"analyze", "deactivat"}), {"unknown analysis 'deactivat'"});
  expect_one_line_error(neft({"analyze", "deactivate", "--model", "tiny"}), {"--neurons"});
  expect_one_line_error(neft({"analyze", "deactivate", "--model", "tiny", "--neurons", tiny_set,
                              "--random-match", "layers"}),
                        {"--random-match", "layers"});
}

}  // namespace
}  // namespace neft::launch
