// What a training run writes into --out, held back until its first step has completed. A run
// refused or failing before then (an option found wrong only once the model is loaded, memory
// exhausted by the first step, any rank failing) leaves --out exactly as it found it: absent
// when it was absent, a resumed run's files unchanged. Rank 0 alone writes; on the other
// ranks this holds nothing and writes nothing.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/metrics_log.h"

namespace neft::train {

class RunOutput {
 public:
  // `resume_step` > 0: the log keeps its records up to that step (MetricsLog::resume).
  RunOutput(std::filesystem::path out, std::string metrics_path, int64_t resume_step, bool writes);

  // Runs `write` when the output opens, or at once when it is open.
  void on_open(std::function<void()> write);
  // A metrics record, held until the output opens and then written in order.
  void log(const nlohmann::json& record);
  // Removes what killed runs left in --out, opens the metrics log, writes the held records and
  // runs the deferred writes. Later calls do nothing.
  void open();
  bool is_open() const { return open_; }

 private:
  std::filesystem::path out_;
  std::string metrics_path_;
  int64_t resume_step_;
  bool writes_;
  bool open_ = false;
  MetricsLog metrics_;
  std::vector<nlohmann::json> held_;
  std::vector<std::function<void()>> deferred_;
};

}  // namespace neft::train
