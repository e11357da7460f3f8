#include "launch/eval.h"

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "data/synthetic.h"
#include "launch/evaluate.h"
#include "launch/model_setup.h"

namespace neft::launch {

int run_eval(const EvalOptions& o) {
  const ModelSource source{o.model, o.init};
  if (!has_pretrained_weights(source))
    fail("--model ", o.model, ": no weights to evaluate (give a model directory with ",
         "model.safetensors, or --init CHECKPOINT)");
  auto model = build_model(source, {o.compute_device(), o.compute_dtype(), false}, o.seed);
  const data::SyntheticSuite suite(o.task_list(), o.seed);
  const std::vector<TaskScore> scores =
      evaluate_synthetic(*model, suite, o.examples, o.micro_batch, o.seq_len);

  if (o.json) {
    nlohmann::json j = {{"model", o.model}, {"tasks", nlohmann::json::object()}};
    for (const TaskScore& s : scores)
      j["tasks"][s.task] = {{"examples", s.examples}, {"loss", s.loss}, {"accuracy", s.accuracy}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("%-10s %9s %9s %10s\n", "task", "examples", "loss", "exact");
  double mean = 0.0;
  for (const TaskScore& s : scores) {
    std::printf("%-10s %9lld %9.4f %9.1f%%\n", s.task.c_str(), (long long)s.examples, s.loss,
                100.0 * s.accuracy);
    mean += s.accuracy / double(scores.size());
  }
  std::printf("%-10s %9s %9s %9.1f%%\n", "mean", "", "", 100.0 * mean);
  return 0;
}

}  // namespace neft::launch
