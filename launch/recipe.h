// The optimizer settings a run gets when it does not choose them (--lr, --min-lr, --warmup or
// --warmup-ratio, --weight-decay): a recipe for models trained from a random start, and one
// for fine-tuning pretrained weights, full or neuron-level. `--recipe auto` picks by whether
// weights are loaded (--init, or a --model directory that holds them) and whether only
// neurons train. Options given on the command line or in --config always win.
#pragma once
#include <cstdint>
#include <string>

#include "train/train_options.h"

namespace neft::launch {

class CommandOptions;

struct Recipe {
  std::string name;
  double lr = 0.0;
  double warmup_ratio = 0.0;  // of --steps, when warmup_steps < 0
  int64_t warmup_steps = -1;
  double weight_decay = 0.0;
};

// recipe: auto | scratch | pretrained.
Recipe recipe_for(const std::string& recipe, bool pretrained_weights, bool neuron_level);

// Fills what the user left to the recipe, and the warmup from --warmup-ratio; min-lr left
// unset is a tenth of the lr. Says what it chose in o.recipe_note.
void apply_recipe(const CommandOptions& table, train::TrainOptions& o, bool neuron_level);

}  // namespace neft::launch
