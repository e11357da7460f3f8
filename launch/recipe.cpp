#include "launch/recipe.h"

#include <cmath>
#include <cstdio>

#include "launch/command_options.h"
#include "train/model_setup.h"

namespace neft::launch {

// The pretrained recipes' learning rates were chosen on SmolLM2-135M-Instruct with the
// validation split of examples/make_text_tasks.py (README, "Fine-tune a real model"): full
// fine-tuning moves every weight and wants a small rate; a neuron-level run moves a few rows
// and, like LoRA, takes a larger one. Weight decay 0 keeps the pretrained weights where they
// are (HF Trainer's and TRL's default); warmup is a share of the run, as HF's warmup_ratio.
Recipe recipe_for(const std::string& recipe, bool pretrained_weights, bool neuron_level) {
  const bool pretrained = recipe == "pretrained" || (recipe == "auto" && pretrained_weights);
  if (!pretrained) return {"scratch", 3e-3, 0.0, 50, 0.1};
  if (neuron_level) return {"pretrained, neuron-level", 3e-4, 0.1, -1, 0.0};
  return {"pretrained, full", 1e-4, 0.1, -1, 0.0};
}

void apply_recipe(const CommandOptions& table, train::TrainOptions& o, bool neuron_level) {
  // Both given is what a written-back configuration holds (the ratio and the steps it made):
  // refused only when they disagree.
  const bool given_ratio = table.option("warmup-ratio").source().given && o.warmup_ratio > 0;
  if (given_ratio && table.option("warmup").source().given &&
      o.warmup != std::llround(o.warmup_ratio * double(o.steps)))
    table.option("warmup-ratio").reject("give --warmup (steps) or --warmup-ratio, not both");
  const Recipe r =
      recipe_for(o.recipe, train::has_pretrained_weights({o.model, o.init}), neuron_level);
  // What it fills, as a person would write it (%g: 3e-05, not 2.9999999999999997e-05).
  std::string chosen;
  auto note = [&](const char* name, const std::string& value) {
    chosen += std::string(chosen.empty() ? "" : ", ") + name + " " + value;
  };
  auto short_text = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  auto fill = [&](const char* name, double& field, double value) {
    if (table.option(name).source().given) return;
    field = value;
    note(name, short_text(value));
  };
  fill("lr", o.lr, r.lr);
  fill("min-lr", o.min_lr, o.lr / 10);
  fill("weight-decay", o.weight_decay, r.weight_decay);
  const bool warmup_left = !given_ratio && !table.option("warmup").source().given;
  if (warmup_left && r.warmup_steps >= 0) {
    o.warmup = r.warmup_steps;
    note("warmup", std::to_string(o.warmup) + " steps");
  }
  if (warmup_left && r.warmup_steps < 0) o.warmup_ratio = r.warmup_ratio;
  if (o.warmup_ratio > 0) o.warmup = int64_t(std::llround(o.warmup_ratio * double(o.steps)));
  if (warmup_left && r.warmup_steps < 0)
    note("warmup-ratio", short_text(o.warmup_ratio) + " (" + std::to_string(o.warmup) + " steps)");
  if (!chosen.empty())
    o.recipe_note = "recipe " + r.name + ": " + chosen + "; options given override these";
}

}  // namespace neft::launch
