#include "launch/continual.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "data/batch_source.h"
#include "data/sft.h"
#include "data/synthetic.h"
#include "launch/eval.h"
#include "launch/merge.h"
#include "launch/plot.h"
#include "launch/score.h"
#include "model/hf_companion_files.h"
#include "neuron/neuron_set.h"
#include "neuron/trainable.h"
#include "neuron/wncft.h"
#include "runtime/error.h"
#include "runtime/json_file.h"
#include "train/checkpoint_dir.h"
#include "train/metrics_log.h"
#include "train/parallel_job.h"
#include "train/step_data.h"
#include "train/trainer.h"

namespace neft::launch {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using G = OptionGroup;
constexpr const char* kRecordsFile = "continual.jsonl";

std::unique_ptr<CommandOptions> continual_command_options(ContinualOptions& o) {
  // The paper's defaults: attribution scores, the top 10% of the kinds' neurons.
  o.stage.score.scorer = "attribution";
  o.stage.select.budget = "10%";
  o.stage.train.out = "runs/continual";
  auto table = std::make_unique<CommandOptions>(
      "continual",
      "Continual fine-tuning over a sequence of tasks (--tasks t1,t2,...), each stage starting "
      "from the model the last one left: --method ncft trains only each task's own neurons "
      "(scored on its data with --scorer, --budget of them, as `neft finetune`; the "
      "task-specific-neurons paper's NCFT), seqft fine-tunes every weight, seqlora trains a "
      "LoRA adapter per task (--lora-rank) and folds it in before the next. After every stage "
      "the model is evaluated on every task: the accuracy matrix A[i][j], the average "
      "accuracy after the last stage and the backward transfer (forgetting) are printed, "
      "written to <out>/continual.jsonl and, with --png, drawn. Each stage is a run "
      "directory under --out; --resume skips finished stages and continues an interrupted "
      "one. The tasks are the synthetic suite's, or with --data sft:TRAIN.jsonl --eval-data "
      "sft:HELD.jsonl the \"task\" names of the files' lines (each stage trains on its task's "
      "lines and is evaluated on every task's held-out lines).");
  add_finetune_options(*table, o.stage);
  add_lora_options(*table, o.stage.train);
  table
      ->add(G::training, "method", &o.method,
            "ncft (each task's neurons), wncft (ncft's training; each task answered with the "
            "tasks' neurons weighted by task similarity), seqft (every weight) or seqlora (a "
            "LoRA adapter per task)")
      .one_of({"ncft", "wncft", "seqft", "seqlora"});
  table->add(G::output, "png", &o.png, "draw the accuracy matrix into this PNG with gnuplot")
      .value_name("FILE");
  return table;
}

void check_continual(const CommandOptions& t, ContinualOptions& o) {
  check_finetune(t, o.stage);
  TrainOptions& train = o.stage.train;
  if (o.method == "seqlora" && train.lora_rank == 0) train.lora_rank = 8;  // PEFT's default
  check_lora(t, train);
  if (o.method != "seqlora" && train.lora_rank > 0)
    t.option("lora-rank").reject("is for --method seqlora");
  if (train.init.empty())
    fail("missing --init (the model the first stage starts from); ", t.help_hint());
  const bool sft = train.data.rfind("sft:", 0) == 0;
  if (train.data != "synthetic" && !sft)
    t.option("data").reject(
        "continual takes the synthetic tasks or sft:FILE.jsonl (its lines' \"task\" names the "
        "tasks)");
  if (sft && train.eval_data.empty())
    t.option("eval-data")
        .reject(
            "is needed with --data sft:...: the held-out sft:FILE.jsonl each stage is evaluated "
            "on");
  if (!sft && !train.eval_data.empty())
    t.option("eval-data")
        .reject(
            "is for --data sft:...; the synthetic tasks have their own "
            "held-out split (--eval-split)");
  if (split_list(train.tasks).size() < 2)
    t.option("tasks").reject("give the sequence of tasks, at least two, comma-separated");
}

struct Stage {
  std::string task, dir, model;  // model: what the next stage starts from
};

std::vector<Stage> stages_of(const ContinualOptions& o) {
  std::vector<Stage> stages;
  const std::vector<std::string> tasks = split_list(o.stage.train.tasks);
  for (size_t i = 0; i < tasks.size(); ++i) {
    const std::string dir =
        (fs::path(o.stage.train.out) / ("stage-" + std::to_string(i + 1) + "-" + tasks[i]))
            .string();
    const std::string model = o.method == "seqlora" ? dir + "/merged" : dir + "/model";
    stages.push_back({tasks[i], dir, model});
  }
  return stages;
}

// The finished stages' records, by stage index (0-based), from continual.jsonl.
std::vector<json> read_records(const std::string& path) {
  std::vector<json> records;
  if (!fs::exists(path)) return records;
  std::ifstream in(path);
  int64_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    const json r = parse_json(line, path, line_number);
    if (!r.is_object() || !r.contains("stage") || !r.contains("accuracy"))
      fail(path, ":", line_number, ": not a stage record (no 'stage' and 'accuracy')");
    records.push_back(r);
  }
  return records;
}

// An unknown task fails here, before the first stage, not later: the synthetic suite knows
// its tasks; sft data must have lines of each in the training and the held-out file.
void check_task_names(const TrainOptions& t) {
  if (t.data == "synthetic") {
    data::SyntheticSuite(split_list(t.tasks), t.seed);
    return;
  }
  const std::string model = model::companion_source(t.model, t.init);
  for (const std::string& spec : {t.data, t.eval_data})
    data::load_sft_jsonl(spec.substr(4), {0, model, spec == t.eval_data, split_list(t.tasks)});
}

// Runs stage i: its training (and scoring, selection, merge) into stage.dir.
void run_stage(const ContinualOptions& o, const Stage& stage, const std::string& start) {
  FinetuneOptions f = o.stage;
  TrainOptions& t = f.train;
  t.tasks = stage.task;
  t.eval_data.clear();  // every task is evaluated after the stage (run_continual)
  t.init = start;
  t.out = stage.dir;
  t.resume = train::find_latest_checkpoint(stage.dir).has_value();
  if (o.method == "ncft" || o.method == "wncft") {
    run_finetune(f);
    return;
  }
  if (o.method == "seqlora" && fs::exists(stage.model)) return;  // trained and merged
  if (o.method == "seqft" || !fs::exists(stage.dir + "/model")) train::run_training(t);
  if (o.method == "seqlora" && fs::exists(stage.dir + "/model")) {
    MergeOptions m;
    m.base = stage.dir + "/model";
    m.out = stage.model;
    // One process merges (every rank has the files; the output is written once).
    if (train::running_world_size() == 1 || train::running_world_rank() == 0) run_merge(m);
    train::world_barrier();
  }
}

// Evaluation of a stage's model on every task of the sequence (the training options' data,
// held-out split and sizes).
EvalOptions stage_eval(const ContinualOptions& o, const Stage& stage) {
  const TrainOptions& t = o.stage.train;
  EvalOptions e;
  e.model = stage.model;
  if (!t.eval_data.empty()) e.data = t.eval_data;
  e.device = t.device;
  e.dtype = t.dtype;
  e.tasks = t.tasks;
  e.seq_len = t.seq_len;
  e.examples = t.eval_examples;
  e.split = t.eval_split;
  e.seed = t.seed;
  e.micro_batch = t.micro_batch;
  e.parallelism = t.parallelism;
  return e;
}

// W-NCFT's task vectors (neuron/wncft.h): the base model's mean final hidden state over
// --score-batches training micro-batches of each task, the same draw on every rank.
std::vector<std::vector<float>> task_vectors(const ContinualOptions& o,
                                             const train::ParallelJob& job) {
  const TrainOptions& t = o.stage.train;
  EvalOptions e = stage_eval(o, {"", "", t.init});
  auto base = build_eval_model(e, job);
  std::vector<std::vector<float>> vectors;
  for (const std::string& task : split_list(t.tasks)) {
    auto source = train::task_batch_source({t.data, task, t.packing, t.model, t.init},
                                           t.micro_batch, t.seq_len, t.seed, base->config().vocab);
    std::vector<data::Batch> batches;
    for (int64_t b = 0; b < o.stage.score.score_batches; ++b) batches.push_back(source->next());
    vectors.push_back(train::mean_final_hidden(*base, batches, job.pp()));
  }
  return vectors;
}

// W-NCFT after stage i: for each task j, the last stage's model with the neurons of stages
// 1..i+1 recombined by task j's weights (neuron/wncft.h), evaluated on task j.
std::vector<train::TaskScore> evaluate_weighted(const ContinualOptions& o,
                                                const std::vector<Stage>& stages, size_t i,
                                                const std::vector<std::vector<float>>& vectors,
                                                const train::ParallelJob& job) {
  std::vector<neuron::NeuronId> all;
  neuron::NeuronKinds kinds;
  for (size_t k = 0; k <= i; ++k) {
    const neuron::NeuronSet set = neuron::load_neuron_set(stages[k].dir + "/neurons.safetensors");
    all.insert(all.end(), set.ids.begin(), set.ids.end());
    kinds = set.kinds;
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());  // tasks share neurons
  std::vector<neuron::NeuronRows> rows;
  std::unique_ptr<model::LlamaModel> last;
  for (size_t k = 0; k <= i; ++k) {
    auto m = build_eval_model(stage_eval(o, stages[k]), job);
    const model::ModelOptions& mo = m->options();
    neuron::train_only(*m, neuron::NeuronSpace(m->config(), kinds, mo.tp.size, mo.pp_stages), all);
    rows.push_back(neuron::selected_neuron_rows(*m));
    if (k == i) last = std::move(m);
  }
  std::vector<train::TaskScore> scores;
  const std::vector<std::string> tasks = split_list(o.stage.train.tasks);
  for (size_t j = 0; j < tasks.size(); ++j) {
    neuron::write_weighted_rows(*last, rows, neuron::task_weights(vectors, j, i + 1));
    EvalOptions e = stage_eval(o, stages[i]);
    e.tasks = tasks[j];
    scores.push_back(evaluate_held_out(*last, e, job).front());
  }
  return scores;
}

// {"accuracy": {task: ...}, "loss": {task: ...}} over the sequence's tasks, in its order;
// `row`, when given, gets the accuracies.
json task_record(const std::vector<Stage>& stages, const std::vector<train::TaskScore>& scores,
                 std::vector<double>* row) {
  json r = {{"accuracy", json::object()}, {"loss", json::object()}};
  for (const Stage& s : stages)
    for (const train::TaskScore& score : scores)
      if (score.task == s.task) {
        if (row) row->push_back(score.accuracy);
        r["accuracy"][s.task] = score.accuracy;
        r["loss"][s.task] = score.loss;
      }
  return r;
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * x);
  return buf;
}

// +1.5 / -12.0: a difference of accuracies in percentage points.
std::string points(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f", 100.0 * x);
  return buf;
}

std::string accuracy_table(const std::vector<Stage>& stages,
                           const std::vector<std::vector<double>>& a) {
  std::string out = "| after stage |";
  std::string rule = "|---|";
  for (const Stage& s : stages) {
    out += " " + s.task + " |";
    rule += "---:|";
  }
  out += "\n" + rule + "\n";
  for (size_t i = 0; i < a.size(); ++i) {
    out += "| " + std::to_string(i + 1) + " " + stages[i].task + " |";
    for (double x : a[i]) out += " " + percent(x) + " |";
    out += "\n";
  }
  return out;
}

}  // namespace

ContinualSummary summarize_continual(const std::vector<std::vector<double>>& a) {
  ContinualSummary s;
  if (a.empty()) return s;
  const size_t n = a.size();
  for (double x : a.back()) s.average += x / double(a.back().size());
  for (size_t j = 0; j + 1 < n; ++j) s.bwt += (a[n - 1][j] - a[j][j]) / double(n - 1);
  return s;
}

std::optional<ContinualOptions> parse_continual_options(const std::vector<std::string>& args,
                                                        std::ostream& out) {
  return parse_command<ContinualOptions>(&continual_command_options, &check_continual, args, out);
}

int run_continual(const ContinualOptions& o) {
  const TrainOptions& t = o.stage.train;
  check_task_names(t);
  const std::vector<Stage> stages = stages_of(o);
  const std::string records_path = (fs::path(t.out) / kRecordsFile).string();
  if (!o.stage.train.resume && fs::exists(records_path))
    fail("--out ", t.out, " already holds a continual run (", records_path,
         "): pass --resume to continue it, or choose another --out");
  const std::vector<json> done = read_records(records_path);
  if (done.size() > stages.size())
    fail(records_path, ": ", done.size(), " stages recorded, but --tasks names ", stages.size());
  for (size_t i = 0; i < done.size(); ++i)
    if (done[i]["task"] != stages[i].task || done[i]["method"] != o.method)
      fail(records_path, ":", i + 1, ": stage ", i + 1, " was ", json_excerpt(done[i]["method"]),
           " on ", json_excerpt(done[i]["task"]), ", not ", o.method, " on ", stages[i].task,
           ": resume with the run's own --tasks and --method");

  // A[i][j]; for W-NCFT also the same training's unweighted matrix (NCFT's).
  std::vector<std::vector<double>> accuracy, unweighted;
  auto row_of = [&](const json& r) {
    std::vector<double> row;
    for (const Stage& s : stages) row.push_back(r["accuracy"].at(s.task).get<double>());
    return row;
  };
  for (const json& r : done) {
    accuracy.push_back(row_of(r));
    if (o.method == "wncft") unweighted.push_back(row_of(r.at("unweighted")));
  }
  const bool rank0 = train::running_world_rank() == 0;
  for (size_t i = done.size(); i < stages.size(); ++i) {
    const std::string start = i == 0 ? t.init : stages[i - 1].model;
    if (rank0)
      std::printf("continual: stage %zu of %zu, %s on %s, from %s\n", i + 1, stages.size(),
                  o.method.c_str(), stages[i].task.c_str(), start.c_str());
    std::fflush(stdout);
    run_stage(o, stages[i], start);
    if (!fs::exists(stages[i].model)) {  // --stop-after ended the stage's training early
      if (rank0)
        std::printf("continual: stopped in stage %zu (%s); --resume continues it\n", i + 1,
                    stages[i].task.c_str());
      return 0;
    }

    const train::ParallelJob job = train::ParallelJob::start(t.parallelism, t.device);
    // The stage's model as it is: NCFT's, SeqFT's, SeqLoRA's answer, and W-NCFT's training
    // without the weighting (W-NCFT trains exactly as NCFT: its record holds both).
    const std::vector<train::TaskScore> plain = evaluate_held_out(
        *build_eval_model(stage_eval(o, stages[i]), job), stage_eval(o, stages[i]), job);
    json record = {{"stage", i + 1},
                   {"task", stages[i].task},
                   {"method", o.method},
                   {"model", stages[i].model}};
    std::vector<double> row;
    if (o.method == "wncft") {
      record["unweighted"] = task_record(stages, plain, nullptr);
      unweighted.push_back(row_of(record["unweighted"]));
      record.update(
          task_record(stages, evaluate_weighted(o, stages, i, task_vectors(o, job), job), &row));
    } else {
      record.update(task_record(stages, plain, &row));
    }
    accuracy.push_back(row);
    if (rank0) {
      std::ofstream log(records_path, std::ios::app);
      log << record.dump() << "\n" << std::flush;
      if (!log) fail("continual: cannot write ", records_path);
    }
    job.barrier();
  }

  if (!rank0) return 0;
  const ContinualSummary s = summarize_continual(accuracy);
  std::cout << "continual " << o.method << " over " << t.tasks << ": exact match on each task "
            << "after each stage\n\n"
            << accuracy_table(stages, accuracy) << "\naverage accuracy " << percent(s.average)
            << ", backward transfer " << points(s.bwt) << " points\n";
  if (o.method == "wncft") {
    const ContinualSummary u = summarize_continual(unweighted);
    std::cout << "\nthe same training unweighted (NCFT: each task answered by the last stage's "
                 "model)\n\n"
              << accuracy_table(stages, unweighted) << "\naverage accuracy " << percent(u.average)
              << ", backward transfer " << points(u.bwt) << " points\n";
  }
  std::cout << std::flush;
  if (o.png.empty()) return 0;
  const std::string tsv = fs::path(o.png).replace_extension(".tsv").string();
  std::ofstream f(tsv);
  for (size_t i = 0; i < accuracy.size(); ++i)
    for (size_t j = 0; j < accuracy[i].size(); ++j)
      f << i << "\t" << j << "\t" << accuracy[i][j] << "\n";
  if (!f.flush()) fail("continual: cannot write ", tsv);
  std::vector<std::string> rows, cols;
  for (const Stage& st : stages) {
    rows.push_back("after " + st.task);
    cols.push_back(st.task);
  }
  draw_png("continual.gp", {tsv, o.png, plot_words(rows), plot_words(cols), o.method}, o.png, tsv,
           "continual");
  return 0;
}

}  // namespace neft::launch
