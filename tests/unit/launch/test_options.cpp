// `neft train` / `neft eval` options: defaults, config file and command-line precedence, the
// one-line errors (naming the option, and the config file and line), --help, and the
// effective configuration written back as a config file.
#include <gtest/gtest.h>

#include <sstream>

#include "data/synthetic.h"
#include "launch/options.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "tests/unit/temp_dir.h"

namespace neft::launch {
namespace {

using ::neft::testing::TempDir;
using ::neft::testing::write_text;

TrainOptions parse_train(const std::vector<std::string>& args) {
  std::ostringstream out;
  const std::optional<TrainOptions> options = parse_train_options(args, out);
  EXPECT_TRUE(options.has_value());
  EXPECT_EQ(out.str(), "");
  return options.value_or(TrainOptions{});
}

// The message of the neft::Error that parsing `args` throws ("" and a test failure if none).
template <class Parse>
std::string error_of(Parse parse, const std::vector<std::string>& args) {
  std::ostringstream out;
  try {
    parse(args, out);
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "no error for these arguments";
  return "";
}

std::string train_error(const std::vector<std::string>& args) {
  return error_of(&parse_train_options, args);
}

TEST(LaunchOptions, TrainDefaults) {
  const TrainOptions o = parse_train({});
  EXPECT_EQ(o.model, "tiny");
  EXPECT_EQ(o.init, "");
  EXPECT_EQ(o.data, "synthetic");
  EXPECT_EQ(o.tasks, "");
  EXPECT_EQ(o.device, "cpu");
  EXPECT_EQ(o.compute_device(), Device::CPU);
  EXPECT_EQ(o.compute_dtype(), DType::F32);
  EXPECT_EQ(o.seq_len, 64);
  EXPECT_EQ(o.micro_batch, 16);
  EXPECT_EQ(o.grad_accum, 1);
  EXPECT_EQ(o.steps, 1000);
  EXPECT_DOUBLE_EQ(o.lr, 3e-3);
  EXPECT_DOUBLE_EQ(o.min_lr, 3e-4);
  EXPECT_EQ(o.warmup, 50);
  EXPECT_EQ(o.lr_schedule, "cosine");
  EXPECT_DOUBLE_EQ(o.weight_decay, 0.1);
  EXPECT_DOUBLE_EQ(o.beta1, 0.9);
  EXPECT_DOUBLE_EQ(o.beta2, 0.95);
  EXPECT_DOUBLE_EQ(o.eps, 1e-8);
  EXPECT_DOUBLE_EQ(o.clip, 1.0);
  EXPECT_EQ(o.seed, 1234u);
  EXPECT_FALSE(o.recompute);
  EXPECT_EQ(o.out, "runs/train");
  EXPECT_EQ(o.save_every, 0);
  EXPECT_EQ(o.keep_checkpoints, 2);
  EXPECT_FALSE(o.resume);
  EXPECT_EQ(o.eval_every, 0);
  EXPECT_EQ(o.eval_examples, 256);
  EXPECT_EQ(o.log_every, 10);
  EXPECT_EQ(o.metrics_path(), "runs/train/metrics.jsonl");
  EXPECT_EQ(o.stop_after, 0);
  EXPECT_EQ(o.task_list(), data::SyntheticSuite::all_tasks());  // no --tasks: the whole suite
}

TEST(LaunchOptions, CommandLineValues) {
  const TrainOptions o = parse_train({"--steps", "20", "--lr=1e-3", "--recompute", "--tasks",
                                      "copy, sort", "--metrics", "m/x.jsonl", "--seed",
                                      "18446744073709551615", "--lr-schedule", "linear"});
  EXPECT_EQ(o.steps, 20);
  EXPECT_DOUBLE_EQ(o.lr, 1e-3);
  EXPECT_TRUE(o.recompute);
  EXPECT_EQ(o.task_list(), (std::vector<std::string>{"copy", "sort"}));
  EXPECT_EQ(o.metrics_path(), "m/x.jsonl");
  EXPECT_EQ(o.seed, 18446744073709551615ull);
  EXPECT_EQ(o.lr_schedule, "linear");
  EXPECT_FALSE(parse_train({"--recompute=false"}).recompute);
  EXPECT_EQ(parse_train({"--tasks", ""}).task_list(), data::SyntheticSuite::all_tasks());
}

TEST(LaunchOptions, CommandLineOverridesConfigFile) {
  TempDir dir;
  const auto config = dir.file("train.ini");
  write_text(config,
             "# a comment line\n"
             "steps = 50\n"
             "lr = 0.01   # trailing comment\n"
             "\n"
             "recompute = true\n"
             "out = runs/from-file\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--config", config, "--steps", "7"}, {"--steps", "7", "--config", config}}) {
    const TrainOptions o = parse_train(args);
    EXPECT_EQ(o.steps, 7);  // the command line wins, wherever --config stands
    EXPECT_DOUBLE_EQ(o.lr, 0.01);
    EXPECT_TRUE(o.recompute);
    EXPECT_EQ(o.out, "runs/from-file");
    EXPECT_EQ(o.metrics_path(), "runs/from-file/metrics.jsonl");
    EXPECT_EQ(o.micro_batch, 16);  // neither: the default
  }
}

TEST(LaunchOptions, UnknownConfigKeyNamesFileAndLine) {
  TempDir dir;
  const auto config = dir.file("train.ini");
  write_text(config, "steps = 5\nlearning-rate = 0.1\n");
  EXPECT_EQ(train_error({"--config", config}),
            config + ":2: unknown key 'learning-rate'; try `neft train --help`");
  // A section prefixes its keys, as program_options reads it.
  write_text(config, "[optimizer]\n\nlr = 0.1\n");
  EXPECT_EQ(train_error({"--config", config}),
            config + ":3: unknown key 'optimizer.lr'; try `neft train --help`");
}

TEST(LaunchOptions, BadConfigValueNamesFileAndLine) {
  TempDir dir;
  const auto config = dir.file("train.ini");
  write_text(config, "steps = 5\n\nlr = fast\n");
  EXPECT_EQ(
      train_error({"--config", config}),
      config + ":3: bad value 'fast' for key 'lr': expected a number; try `neft train --help`");
  write_text(config, "steps = 5\nmicro-batch = 0\n");
  EXPECT_EQ(train_error({"--config", config}),
            config +
                ":2: bad value '0' for key 'micro-batch': must be at least 1; try `neft train "
                "--help`");
  write_text(config, "steps = 5\nthis line has no equals sign\n");
  EXPECT_EQ(train_error({"--config", config}),
            config +
                ":2: expected `name = value`, got 'this line has no equals sign'; try `neft "
                "train --help`");
  write_text(config, "steps = 5\nwarmup = 1\nsteps = 6\n");
  EXPECT_EQ(train_error({"--config", config}),
            config + ":3: key 'steps' given twice (first on line 1); try `neft train --help`");
  write_text(config, "config = other.ini\n");
  EXPECT_EQ(train_error({"--config", config}),
            config + ":1: unknown key 'config'; try `neft train --help`");
}

TEST(LaunchOptions, MissingConfigFile) {
  TempDir dir;
  const auto config = dir.file("missing.ini");
  EXPECT_EQ(train_error({"--config", config}),
            "cannot read config file '" + config + "'; try `neft train --help`");
}

TEST(LaunchOptions, CommandLineErrorsNameTheOption) {
  EXPECT_EQ(train_error({"--steps", "abc"}),
            "bad value 'abc' for --steps: expected an integer; try `neft train --help`");
  EXPECT_EQ(train_error({"--steps", "1e3"}),
            "bad value '1e3' for --steps: expected an integer; try `neft train --help`");
  EXPECT_EQ(train_error({"--stepz", "3"}),
            "unknown option '--stepz' (did you mean --steps?); try `neft train --help`");
  EXPECT_EQ(train_error({"--frobnicate"}),
            "unknown option '--frobnicate'; try `neft train --help`");
  // No abbreviations: `--step` must not silently mean --steps.
  EXPECT_NE(train_error({"--step", "3"}).find("unknown option '--step'"), std::string::npos);
  EXPECT_EQ(train_error({"--steps", "3", "stray"}),
            "unexpected argument 'stray' (options are --name value); try `neft train --help`");
  EXPECT_EQ(train_error({"--steps", "3", "--steps", "4"}),
            "--steps given twice; try `neft train --help`");
  EXPECT_EQ(train_error({"--recompute=maybe"}),
            "bad value 'maybe' for --recompute: expected true or false; try `neft train --help`");
  EXPECT_NE(train_error({"--steps"}).find("--steps"), std::string::npos);  // value missing
}

TEST(LaunchOptions, RangeAndChoiceChecks) {
  const std::string hint = "; try `neft train --help`";
  EXPECT_EQ(train_error({"--micro-batch", "0"}),
            "bad value '0' for --micro-batch: must be at least 1" + hint);
  EXPECT_EQ(train_error({"--beta2", "1"}), "bad value '1' for --beta2: must be less than 1" + hint);
  EXPECT_EQ(train_error({"--lr", "0"}), "bad value '0' for --lr: must be greater than 0" + hint);
  EXPECT_EQ(train_error({"--lr", "inf"}),
            "bad value 'inf' for --lr: expected a finite number" + hint);
  EXPECT_EQ(train_error({"--device", "tpu"}),
            "bad value 'tpu' for --device: expected one of cpu, cuda" + hint);
  EXPECT_EQ(train_error({"--lr-schedule", "step"}),
            "bad value 'step' for --lr-schedule: expected one of cosine, linear, constant" + hint);
  EXPECT_EQ(train_error({"--seed", "-1"}),
            "bad value '-1' for --seed: expected a non-negative integer" + hint);
  EXPECT_EQ(train_error({"--model", ""}), "bad value '' for --model: must not be empty" + hint);
  EXPECT_EQ(
      train_error({"--tasks", "copy,,sort"}),
      "bad value 'copy,,sort' for --tasks: empty task name in the comma-separated list" + hint);
  EXPECT_EQ(
      train_error({"--dtype", "bf16"}),
      "bad value 'bf16' for --dtype: the cpu backend runs f32 (bf16 needs --device cuda)" + hint);
}

TEST(LaunchOptions, ChecksAcrossOptionsNameTheirValues) {
  EXPECT_EQ(train_error({"--lr", "1e-4", "--min-lr", "3e-4"}),
            "bad value '0.0003' for --min-lr: must not exceed --lr (0.0001); try `neft train "
            "--help`");
  EXPECT_DOUBLE_EQ(parse_train({"--lr", "1e-4", "--min-lr", "0"}).min_lr, 0.0);
  // --min-lr not given follows --lr: a lower --lr alone is never refused.
  EXPECT_DOUBLE_EQ(parse_train({"--lr", "1e-4"}).min_lr, 1e-5);
  EXPECT_EQ(train_error({"--warmup", "5", "--warmup-ratio", "0.2", "--steps", "50"}),
            "bad value '0.2' for --warmup-ratio: give --warmup (steps) or --warmup-ratio, not "
            "both; try `neft train --help`");
}

// The recipe fills only what is not given: scratch for a preset's random start, pretrained
// (full or neuron-level) when weights are loaded.
TEST(LaunchOptions, RecipeDefaultsFollowWhereTheWeightsStart) {
  const TrainOptions scratch = parse_train({"--model", "tiny"});
  EXPECT_DOUBLE_EQ(scratch.lr, 3e-3);
  EXPECT_EQ(scratch.warmup, 50);
  EXPECT_DOUBLE_EQ(scratch.weight_decay, 0.1);

  const std::string weights = std::string(NEFT_SOURCE_DIR) + "/tests/golden/gqa_untied";
  const TrainOptions full = parse_train({"--model", weights, "--steps", "40"});
  EXPECT_DOUBLE_EQ(full.lr, 1e-4);
  EXPECT_DOUBLE_EQ(full.min_lr, 1e-5);
  EXPECT_EQ(full.warmup, 4);  // 10% of the steps
  EXPECT_DOUBLE_EQ(full.weight_decay, 0.0);
  EXPECT_EQ(full.recipe_note,
            "recipe pretrained, full: lr 0.0001, min-lr 1e-05, weight-decay 0, warmup-ratio 0.1 "
            "(4 steps); options given override these");
  // --init loads weights too; --neurons makes it neuron-level.
  const TrainOptions neurons = parse_train(
      {"--model", "tiny", "--init", weights, "--neurons", "n.safetensors", "--steps", "40"});
  EXPECT_DOUBLE_EQ(neurons.lr, 3e-4);
  EXPECT_EQ(neurons.warmup, 4);

  // Given options win, and --recipe overrides auto.
  const TrainOptions given =
      parse_train({"--model", weights, "--lr", "5e-5", "--warmup", "7", "--weight-decay", "0.01"});
  EXPECT_DOUBLE_EQ(given.lr, 5e-5);
  EXPECT_DOUBLE_EQ(given.min_lr, 5e-6);
  EXPECT_EQ(given.warmup, 7);
  EXPECT_DOUBLE_EQ(given.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(parse_train({"--model", weights, "--recipe", "scratch"}).lr, 3e-3);
  EXPECT_DOUBLE_EQ(parse_train({"--recipe", "pretrained"}).lr, 1e-4);
  EXPECT_EQ(parse_train({"--warmup-ratio", "0.25", "--steps", "10"}).warmup, 3);  // 2.5 rounds up
}

TEST(LaunchOptions, CudaDeviceNeedsTheCudaBackend) {
  if (cuda_compiled()) {
    const TrainOptions o = parse_train({"--device", "cuda"});
    EXPECT_EQ(o.compute_device(), Device::CUDA);
    EXPECT_EQ(o.compute_dtype(), DType::BF16);  // auto on cuda
    EXPECT_EQ(parse_train({"--device", "cuda", "--dtype", "f32"}).compute_dtype(), DType::F32);
  } else {
    EXPECT_EQ(train_error({"--device", "cuda"}),
              "bad value 'cuda' for --device: this neft was built without the CUDA backend; try "
              "`neft train --help`");
  }
}

TEST(LaunchOptions, HelpListsEveryOptionWithDefaults) {
  std::ostringstream out;
  EXPECT_FALSE(parse_train_options({"--steps", "oops", "--help"}, out).has_value());
  const std::string help = out.str();
  EXPECT_EQ(help.rfind("usage: neft train [--config FILE] [options]\n", 0), 0u);
  for (const char* group :
       {"Model:", "Data:", "Training:", "Optimizer:", "Evaluation:", "Checkpointing:", "Output:"})
    EXPECT_NE(help.find(std::string("\n") + group + "\n"), std::string::npos) << group;
  TrainOptions defaults;
  const auto table = train_command_options(defaults);
  for (const char* name :
       {"model",   "init",        "data",          "tasks",     "device",     "dtype",
        "seq-len", "micro-batch", "grad-accum",    "steps",     "lr",         "min-lr",
        "warmup",  "lr-schedule", "weight-decay",  "beta1",     "beta2",      "eps",
        "clip",    "seed",        "recompute",     "out",       "save-every", "keep-checkpoints",
        "resume",  "eval-every",  "eval-examples", "log-every", "metrics",    "stop-after"}) {
    EXPECT_NE(help.find("  " + table->option(name).synopsis()), std::string::npos) << name;
  }
  EXPECT_NE(help.find("[default: 1000]"), std::string::npos);
  EXPECT_NE(help.find("[default: 0.0003]"), std::string::npos);
  EXPECT_NE(help.find("--lr-schedule cosine|linear|constant"), std::string::npos);
  size_t longest = 0;
  for (std::istringstream lines(help); !lines.eof();) {
    std::string line;
    std::getline(lines, line);
    longest = std::max(longest, line.size());
  }
  EXPECT_LE(longest, 80u);
}

TEST(LaunchOptions, ConfigTextReadsBackToTheSameOptions) {
  TempDir dir;
  TrainOptions o;
  o.steps = 77;
  o.lr = 1.0 / 3.0;  // needs every digit to read back exactly
  o.init = "";
  o.tasks = "sort,add";
  o.resume = true;
  o.seed = 42;
  const std::string text = train_config_text(o);
  EXPECT_NE(text.find("\nsteps = 77\n"), std::string::npos);
  EXPECT_NE(text.find("\n# Optimizer\n"), std::string::npos);
  const auto config = dir.file("run.ini");
  write_text(config, text);
  const TrainOptions back = parse_train({"--config", config});
  EXPECT_EQ(back.steps, 77);
  EXPECT_EQ(back.lr, 1.0 / 3.0);
  EXPECT_EQ(back.tasks, "sort,add");
  EXPECT_TRUE(back.resume);
  EXPECT_EQ(back.seed, 42u);
  EXPECT_EQ(train_config_text(back), text);
}

TEST(LaunchOptions, EvalOptions) {
  std::ostringstream out;
  const std::optional<EvalOptions> o =
      parse_eval_options({"--model", "runs/train/final", "--json", "--examples", "8"}, out);
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->model, "runs/train/final");
  EXPECT_TRUE(o->json);
  EXPECT_EQ(o->examples, 8);
  EXPECT_EQ(o->micro_batch, 32);
  EXPECT_EQ(o->seq_len, 64);
  EXPECT_EQ(o->seed, 1234u);
  EXPECT_EQ(o->compute_dtype(), DType::F32);
  EXPECT_EQ(error_of(&parse_eval_options, {}),
            "missing --model (a model directory, or a preset name with --init); try `neft eval "
            "--help`");
  EXPECT_EQ(error_of(&parse_eval_options, {"--model", "m", "--examples", "0"}),
            "bad value '0' for --examples: must be at least 1; try `neft eval --help`");
  // Train-only options are unknown to eval.
  EXPECT_EQ(error_of(&parse_eval_options, {"--model", "m", "--lr", "1"}),
            "unknown option '--lr'; try `neft eval --help`");
  EXPECT_FALSE(parse_eval_options({"-h"}, out).has_value());
  EXPECT_NE(out.str().find("usage: neft eval"), std::string::npos);
}

}  // namespace
}  // namespace neft::launch
