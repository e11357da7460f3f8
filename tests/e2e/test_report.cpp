// `neft report` end to end on hand-made run directories: the table reads the last evaluation,
// sums what the ranks of one data-parallel replica trained and held, takes the median step
// time past the first steps, names the method from the run's neuron file, and the neuron
// map's data say which share of each layer's neurons of each kind was selected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "launch/cli.h"
#include "model/config.h"
#include "neuron/neuron_set.h"
#include "tests/e2e/cli_run.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using namespace ::neft::launch::testing;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A neuron-level run of the tiny preset at tp 2 x dp 2: 4 neurons of layer 0 and 96 (a
// quarter) of layer 2, ffn only; two evaluations; nine steps whose times after the first five
// are 20, 20, 360 and 20 ms.
void make_neuron_run(const fs::path& dir) {
  write_text(dir / "metrics.jsonl",
             R"({"step":1,"ranks":[)"
             R"({"rank":0,"tp":0,"pp":0,"dp":0,"trained_parameters":1000,"state_bytes":3072},)"
             R"({"rank":1,"tp":1,"pp":0,"dp":0,"trained_parameters":1000,"state_bytes":3072},)"
             R"({"rank":2,"tp":0,"pp":0,"dp":1,"trained_parameters":1000,"state_bytes":3072},)"
             R"({"rank":3,"tp":1,"pp":0,"dp":1,"trained_parameters":1000,"state_bytes":3072}]})"
             "\n"
             R"({"step":1,"loss":3.0,"elapsed_s":5.0})"
             "\n"
             R"({"step":2,"loss":2.9,"elapsed_s":5.1})"
             "\n"
             R"({"step":3,"loss":2.8,"elapsed_s":5.2})"
             "\n"
             R"({"step":4,"loss":2.7,"elapsed_s":5.3})"
             "\n"
             R"({"step":5,"loss":2.6,"elapsed_s":5.4})"
             "\n"
             R"({"step":5,"eval":{"shift":{"loss":2.0,"accuracy":0.1}}})"
             "\n"
             R"({"step":6,"loss":2.5,"elapsed_s":5.42})"
             "\n"
             R"({"step":7,"loss":2.4,"elapsed_s":5.44})"
             "\n"
             R"({"step":8,"loss":2.3,"elapsed_s":5.80})"
             "\n"
             R"({"step":9,"loss":2.2,"elapsed_s":5.82})"
             "\n"
             R"({"step":9,"eval":{"shift":{"loss":1.0,"accuracy":0.75}}})"
             "\n");
  const model::LlamaConfig tiny = model::preset("tiny");
  const neuron::NeuronSpace space(tiny, neuron::NeuronKinds::parse("ffn"));
  std::vector<neuron::NeuronId> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(neuron::make_id(0, neuron::NeuronKind::Ffn, i));
  for (int i = 0; i < 96; ++i) ids.push_back(neuron::make_id(2, neuron::NeuronKind::Ffn, i));
  neuron::save_neuron_set((dir / "neurons.safetensors").string(),
                          neuron::make_neuron_set(space, ids, std::vector<float>(ids.size(), 1.0f),
                                                  "cosine", "5%params", "global"));
  fs::create_directories(dir / "model");
  model::save_hf_config(tiny, (dir / "model" / "config.json").string());
}

// A full fine-tuning run on one rank, evaluated on two tasks, without a saved model.
void make_full_run(const fs::path& dir) {
  write_text(dir / "metrics.jsonl", R"({"step":1,"ranks":[{"rank":0,"tp":0,"pp":0,"dp":0,)"
                                    R"("trained_parameters":812000,"state_bytes":9744000}]})"
                                    "\n"
                                    R"({"step":1,"loss":3.0,"elapsed_s":1.0})"
                                    "\n"
                                    R"({"step":1,"eval":{"copy":{"loss":0.1,"accuracy":1.0},)"
                                    R"("shift":{"loss":0.2,"accuracy":0.5}}})"
                                    "\n");
}

TEST(Report, TableRowsFromRunDirectories) {
  TempDir dir;
  make_neuron_run(dir.path() / "neft");
  make_full_run(dir.path() / "full");
  const Result r = neft(
      {"report", "NeFT=" + dir.file("neft"), dir.file("full"), "--markdown", dir.file("table.md")});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string table = read_text(dir.file("table.md"));

  char share[32];
  std::snprintf(share, sizeof share, "(%.1f%%)",
                100.0 * 2000.0 / double(model::preset("tiny").parameter_count()));
  EXPECT_THAT(table, HasSubstr("| run | method | shift | copy | trained parameters | training "
                               "state | step (ms) |\n"));
  EXPECT_THAT(table, HasSubstr("| NeFT | cosine 5%params global | 75.0% | – | 2.0k " +
                               std::string(share) + " | 6.0 KiB | 20.0 |\n"));
  // No saved model: no share of it; one step: no step time.
  EXPECT_THAT(table, HasSubstr("| full | full | 50.0% | 100.0% | 812.0k | 9.3 MiB | – |\n"));

  const Result only =
      neft({"report", dir.file("neft"), "--tasks", "copy", "--markdown", dir.file("copy.md")});
  ASSERT_EQ(only.status, 0) << only.err;
  EXPECT_THAT(read_text(dir.file("copy.md")), HasSubstr("| neft | cosine 5%params global | – |"));
  EXPECT_THAT(read_text(dir.file("copy.md")), Not(HasSubstr("shift")));
}

// A full fine-tuning run on one rank whose last evaluation got `accuracy` on shift.
void make_seed_run(const fs::path& dir, double accuracy) {
  write_text(dir / "metrics.jsonl", R"({"step":1,"loss":3.0,"elapsed_s":1.0})"
                                    "\n"
                                    R"({"step":1,"eval":{"shift":{"loss":0.2,"accuracy":)" +
                                        std::to_string(accuracy) + "}}}\n");
}

// Runs under one label are seeds of one method: one row, mean ± sample sd, and how many.
TEST(Report, RunsUnderOneLabelAreOneRowWithMeanAndSd) {
  TempDir dir;
  make_seed_run(dir.path() / "s1", 0.50);
  make_seed_run(dir.path() / "s2", 0.60);
  make_seed_run(dir.path() / "s3", 0.70);
  make_neuron_run(dir.path() / "neft");
  const Result r = neft({"report", "full=" + dir.file("s1"), "NeFT=" + dir.file("neft"),
                         "full=" + dir.file("s2"), "full=" + dir.file("s3"), "--markdown",
                         dir.file("table.md")});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string table = read_text(dir.file("table.md"));
  EXPECT_THAT(table, HasSubstr("| run | runs | method | shift |"));
  // 50, 60, 70: mean 60, sample sd 10.
  EXPECT_THAT(table, HasSubstr("| full | 3 | full | 60.0 ± 10.0% |"));
  EXPECT_THAT(table, HasSubstr("| NeFT | 1 | cosine 5%params global | 75.0% |"));
  EXPECT_LT(table.find("| full |"), table.find("| NeFT |"));  // in order of first appearance

  // One label, two methods: refused, naming both.
  const Result mixed = neft({"report", "x=" + dir.file("s1"), "x=" + dir.file("neft")});
  EXPECT_NE(mixed.status, 0);
  EXPECT_THAT(mixed.err, HasSubstr("the runs labelled x differ in method"));
}

TEST(Report, NeuronMapData) {
  TempDir dir;
  make_neuron_run(dir.path() / "neft");
  make_full_run(dir.path() / "full");
  // Whether gnuplot draws the PNG depends on the machine; the data are written either way.
  const Result r = neft({"report", "NeFT=" + dir.file("neft"), "full=" + dir.file("full"), "--png",
                         dir.file("map.png")});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string tsv = read_text(dir.file("map.tsv"));
  EXPECT_THAT(tsv, HasSubstr("NeFT\t0\tffn\t0\t4\t384\t0.0104167\n"));
  EXPECT_THAT(tsv, HasSubstr("NeFT\t2\tffn\t0\t96\t384\t0.25\n"));
  EXPECT_THAT(tsv, HasSubstr("NeFT\t3\tffn\t0\t0\t384\t0\n"));
  EXPECT_THAT(tsv, HasSubstr("NeFT\t1\tqo\t1\t0\t128\tNaN\n"));  // a kind not chosen from
  EXPECT_THAT(tsv, HasSubstr("NeFT\t1\tkv\t2\t0\t64\tNaN\n"));
  EXPECT_THAT(tsv, Not(HasSubstr("full\t")));  // full fine-tuning has no map
}

// metrics.jsonl is read leniently: a field of another type counts as absent, a record of
// another shape is skipped, and neither stops the report.
TEST(Report, FieldsOfAnotherTypeAreAbsent) {
  TempDir dir;
  write_text(dir.path() / "odd" / "metrics.jsonl",
             R"({"step":1,"ranks":[5,{"dp":"x","trained_parameters":7,"state_bytes":[1]}]})"
             "\n"
             R"({"step":1.5,"ranks":[{"trained_parameters":1000}]})"
             "\n"
             R"({"step":2,"ranks":"none","eval":{"copy":{"accuracy":"high"}}})"
             "\n");
  const Result r = neft({"report", dir.file("odd"), "--markdown", dir.file("odd.md")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(read_text(dir.file("odd.md")), HasSubstr("| odd | full | 7 | 0 B | – |\n"));
}

TEST(Report, BadInputIsOneLine) {
  TempDir dir;
  Result r = neft({"report"});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("no run directories given"));
  fs::create_directories(dir.path() / "empty");
  r = neft({"report", dir.file("empty")});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("metrics.jsonl: cannot read"));
  r = neft({"report", dir.file("missing")});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("no such run directory"));
}

}  // namespace
}  // namespace neft::launch
