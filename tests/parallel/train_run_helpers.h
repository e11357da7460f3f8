// What the multi-rank tests of `neft train` share: a directory every rank of the job sees,
// running `neft` in process on every rank, and reading back a run's metrics log.
#pragma once
#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/batch_source.h"
#include "helpers.h"
#include "launch/cli.h"
#include "launch/options.h"
#include "model/llama.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "optim/schedule.h"
#include "tests/adam_bound.h"

namespace neft::launch::testing {

namespace fs = std::filesystem;
using parallel::testing::world_rank;
using parallel::testing::world_size;

// A directory all ranks of the job share: named after rank 0's pid, made and removed by rank
// 0, with barriers so that no rank uses it before it exists or after it is gone.
class SharedTempDir {
 public:
  SharedTempDir() {
    int pid = int(::getpid());
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("neft-layouts-" + std::to_string(pid) + "-" + std::to_string(counter++));
    if (world_rank() == 0) {
      fs::remove_all(path_);
      fs::create_directories(path_);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  ~SharedTempDir() {
    MPI_Barrier(MPI_COMM_WORLD);
    std::error_code ec;
    if (world_rank() == 0) fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline std::vector<std::string> with(std::vector<std::string> args,
                                     const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Runs `neft` on every rank; a failure on any rank ends the whole job (launch/cli.h).
inline void neft(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  ASSERT_EQ(run_neft(args, out, err), 0) << err.str();
}

inline TrainOptions options_of(const std::vector<std::string>& args) {
  std::ostringstream help;
  return *parse_train_options({args.begin() + 1, args.end()}, help);
}

inline std::vector<nlohmann::json> records(const std::string& out) {
  std::vector<nlohmann::json> all;
  std::ifstream in(out + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) all.push_back(nlohmann::json::parse(line));
  return all;
}

inline std::map<int64_t, double> losses(const std::string& out) {
  std::map<int64_t, double> by_step;
  for (const auto& r : records(out))
    if (r.contains("loss")) by_step[r["step"].get<int64_t>()] = r["loss"].get<double>();
  return by_step;
}

inline void expect_same_losses(const std::map<int64_t, double>& got,
                               const std::map<int64_t, double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [step, loss] : want) {
    ASSERT_TRUE(got.count(step)) << what << ": step " << step;
    EXPECT_NEAR(got.at(step), loss, 1e-5 * loss) << what << ": step " << step;
  }
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    diff = std::max(diff, double(std::abs(a[i] - b[i])));
  return diff;
}

inline double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, double(std::abs(v)));
  return m;
}

// Sequences per step over all ranks (micro-batches of kMicroBatch): every layout the tests
// run splits them as grad-accum x dp.
constexpr int kGlobalMicroBatches = 4;

// A model-parallel layout: tp x pp ranks per replica, dp = the world / (tp x pp), and
// whether the optimizer's state is split over the dp ranks (--distributed-optimizer).
struct Layout {
  int tp = 1, pp = 1;
  bool distributed_optimizer = false;
  int model_ranks() const { return tp * pp; }
  int dp() const { return world_size() / model_ranks(); }
  // Fits this world, and splits the global batch into whole micro-batches per dp rank; a
  // distributed optimizer needs dp ranks to split over.
  bool fits() const {
    return world_size() % model_ranks() == 0 && kGlobalMicroBatches % dp() == 0 &&
           (!distributed_optimizer || dp() > 1);
  }
  std::string name() const {
    return "tp" + std::to_string(tp) + "_pp" + std::to_string(pp) +
           (distributed_optimizer ? "_distopt" : "");
  }
  // `neft train`'s options for it, with the grad-accum that keeps the global batch at
  // kGlobalMicroBatches.
  std::vector<std::string> args() const {
    std::vector<std::string> a = {"--tp",         std::to_string(tp),
                                  "--pp",         std::to_string(pp),
                                  "--grad-accum", std::to_string(kGlobalMicroBatches / dp())};
    if (distributed_optimizer) a.push_back("--distributed-optimizer");
    return a;
  }
};

// `neft train` at `layout` for `steps` steps of micro-batches of 2 sequences of 32 tokens at
// lr 1e-2 (after one warmup step), a checkpoint every 3 steps, plus `extra`.
inline std::vector<std::string> layout_train_args(const std::string& out, const Layout& layout,
                                                  int steps, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"train",
                                   "--out",
                                   out,
                                   "--micro-batch",
                                   "2",
                                   "--steps",
                                   std::to_string(steps),
                                   "--seq-len",
                                   "32",
                                   "--warmup",
                                   "1",
                                   "--lr",
                                   "1e-2",
                                   "--save-every",
                                   "3",
                                   "--log-every",
                                   "100"};
  args.insert(args.end(), extra.begin(), extra.end());
  const std::vector<std::string> l = layout.args();
  args.insert(args.end(), l.begin(), l.end());
  return args;
}

// The single-rank run of a `neft train` run's options: the whole global batch of each step as
// gradient accumulation on one model, through the same building blocks as `neft train`.
// `setup` builds the model (and chooses what trains). With no `hook` it also makes the
// shadow runs of tests/adam_bound.h, so that `bound` allows for another layout's rounding.
// `after_step(steps done, model)`, if given, runs after each step of the run itself (not of
// its shadow runs).
struct SingleRankRun {
  std::unique_ptr<model::LlamaModel> model;
  std::unique_ptr<optim::AdamW> optimizer;
  std::unique_ptr<neft::testing::AdamBound> bound;
  std::map<int64_t, double> losses;
};

inline SingleRankRun train_single_rank(
    const TrainOptions& o, const std::function<std::unique_ptr<model::LlamaModel>()>& setup,
    const neft::testing::GradientHook& hook = {},
    const std::function<void(int64_t, model::LlamaModel&)>& after_step = {}) {
  SingleRankRun run;
  run.model = setup();
  const optim::AdamWConfig adamw{float(o.beta1), float(o.beta2), float(o.eps),
                                 float(o.weight_decay)};
  run.optimizer = std::make_unique<optim::AdamW>(run.model->parameters(), adamw);
  run.bound = std::make_unique<neft::testing::AdamBound>(adamw);
  const optim::LrSchedule schedule{o.lr_schedule, float(o.lr), float(o.min_lr), o.warmup, o.steps};
  auto source = data::make_batch_source(o.data, o.micro_batch, o.seq_len, o.seed,
                                        {int32_t(run.model->config().vocab), true});
  for (int64_t step = 0; step < o.steps; ++step) {
    std::vector<data::Batch> micro;
    for (int i = 0; i < kGlobalMicroBatches; ++i) micro.push_back(source->next());
    const train::StepResult r = neft::testing::train_step_with(
        *run.model, *run.optimizer, micro, schedule.at(step), float(o.clip), hook, step);
    run.losses[step + 1] = r.loss;
    run.bound->observe(run.model->parameters(), schedule.at(step),
                       optim::clip_factor(r.grad_norm, float(o.clip)));
    if (after_step) after_step(step + 1, *run.model);
  }
  if (hook) return run;
  for (int k = 0; k < neft::testing::kShadowRuns; ++k) {
    const SingleRankRun shadow =
        train_single_rank(o, setup, neft::testing::shadow_hook(uint64_t(k + 1)));
    run.bound->add_shadow(run.model->parameters(), shadow.model->parameters());
    run.bound->add_shadow_state(run.optimizer->state(), shadow.optimizer->state());
  }
  return run;
}

}  // namespace neft::launch::testing
