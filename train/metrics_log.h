// The metrics log: one JSON object per line (JSONL), flushed line by line so a killed run
// keeps every record it wrote, and readable by any JSON tool (pandas.read_json(lines=True)).
#pragma once
#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace neft::train {

class MetricsLog {
 public:
  MetricsLog() = default;  // writes nothing: the log of a rank other than 0
  // Creates the parent directories and starts the file afresh.
  explicit MetricsLog(const std::string& path);
  // For a resumed run: keeps the records of steps up to `step` (those its checkpoint covers),
  // drops later ones and a line cut short by the kill, and appends after them, so the log
  // reads as one uninterrupted run. Records without a numeric "step" are kept.
  static MetricsLog resume(const std::string& path, int64_t step);

  // Appends `record` as one line and flushes it. NaN and infinities are written as null
  // (JSON has no such numbers).
  void write(const nlohmann::json& record);

  bool enabled() const { return file_.is_open(); }
  const std::string& path() const { return path_; }

 private:
  MetricsLog(const std::string& path, std::ios::openmode mode);

  std::string path_;
  std::ofstream file_;
};

}  // namespace neft::train
