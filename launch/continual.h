// `neft continual`: neuron-level continual fine-tuning (Leng & Xiong 2024) against its
// baselines, on a sequence of tasks, each stage starting from the last one's model:
//   ncft    score the task's neurons on its data (attribution, the paper's scorer), select
//           --budget of them and train only those;
//   wncft   trains as ncft; each task is answered by the last model with the neurons of every
//           task trained so far weighted by the tasks' similarity (W-NCFT: neuron/wncft.h has
//           the exact rule); its records also hold the unweighted answers, which are NCFT's
//           (the training is the same, bit for bit);
//   seqft   full fine-tuning on each task in turn;
//   seqlora a LoRA adapter trained on each task, folded into the model before the next
//           (a fresh adapter per task; the model carries every earlier one merged).
// The tasks are the synthetic suite's, or the "task" names of an sft JSONL's lines (--data for
// training, --eval-data held out). After every stage the model is evaluated on every task of
// the sequence: A[i][j] is the
// exact-match accuracy on task j after stage i. The run reports A, the average accuracy
// after the last stage (the paper's CL), and the backward transfer
// BWT = mean over j < last of (A[last][j] - A[j][j]), negative when earlier tasks are
// forgotten. Each stage is a run directory of its own under --out (stage-<i>-<task>/), and
// continual.jsonl holds one record per finished stage, so --resume skips finished stages
// and continues an interrupted one from its checkpoint.
#pragma once
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "launch/neuron_options.h"

namespace neft::launch {

struct ContinualOptions {
  FinetuneOptions stage;        // train.tasks is the sequence; train.out the run's directory
  std::string method = "ncft";  // ncft | wncft | seqft | seqlora
  std::string png;              // the accuracy matrix as a picture; "" = none
};

std::optional<ContinualOptions> parse_continual_options(const std::vector<std::string>& args,
                                                        std::ostream& out);
int run_continual(const ContinualOptions& options);

// The table's numbers from the accuracy matrix (rows: stages, columns: tasks, square).
struct ContinualSummary {
  double average = 0;  // mean of the last row
  double bwt = 0;      // mean over j < n - 1 of A[n-1][j] - A[j][j]; 0 for one task
};
ContinualSummary summarize_continual(const std::vector<std::vector<double>>& accuracy);

}  // namespace neft::launch
