#include "train/train_options.h"

#include <filesystem>

#include "data/synthetic.h"
#include "runtime/text.h"

namespace neft::train {

parallel::Backend ParallelOptions::backend(const std::string& device) const {
  if (comm_backend == "auto")
    return device == "cuda" ? parallel::Backend::NCCL : parallel::Backend::MPI;
  return parallel::backend_from_name(comm_backend);
}

Device TrainOptions::compute_device() const { return device_named(device); }
DType TrainOptions::compute_dtype() const { return resolve_dtype(dtype, device); }
std::string TrainOptions::metrics_path() const {
  return metrics.empty() ? (std::filesystem::path(out) / "metrics.jsonl").string() : metrics;
}
std::vector<std::string> TrainOptions::task_list() const { return tasks_or_all(tasks); }

Device device_named(const std::string& device) {
  return device == "cuda" ? Device::CUDA : Device::CPU;
}

DType resolve_dtype(const std::string& dtype, const std::string& device) {
  if (dtype == "auto") return device == "cuda" ? DType::BF16 : DType::F32;
  return dtype_from_name(dtype);
}

std::vector<std::string> tasks_or_all(const std::string& tasks) {
  return tasks.empty() ? data::SyntheticSuite::all_tasks() : split_list(tasks);
}

}  // namespace neft::train
