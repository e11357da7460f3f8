#include "train/run_output.h"

#include "train/checkpoint_dir.h"

namespace neft::train {

RunOutput::RunOutput(std::filesystem::path out, std::string metrics_path, int64_t resume_step,
                     bool writes)
    : out_(std::move(out)),
      metrics_path_(std::move(metrics_path)),
      resume_step_(resume_step),
      writes_(writes) {}

void RunOutput::on_open(std::function<void()> write) {
  if (!writes_) return;
  if (open_)
    write();
  else
    deferred_.push_back(std::move(write));
}

void RunOutput::log(const nlohmann::json& record) {
  if (!writes_) return;
  if (open_)
    metrics_.write(record);
  else
    held_.push_back(record);
}

void RunOutput::open() {
  if (open_) return;
  open_ = true;
  if (!writes_) return;
  std::filesystem::create_directories(out_);
  remove_run_leftovers(out_);
  metrics_ = resume_step_ > 0 ? MetricsLog::resume(metrics_path_, resume_step_)
                              : MetricsLog(metrics_path_);
  for (const nlohmann::json& record : held_) metrics_.write(record);
  held_.clear();
  for (const auto& write : deferred_) write();
  deferred_.clear();
}

}  // namespace neft::train
