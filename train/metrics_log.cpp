#include "train/metrics_log.h"

#include <filesystem>
#include <sstream>

#include "runtime/atomic_file.h"
#include "runtime/error.h"
#include "runtime/json_file.h"

namespace neft::train {

namespace fs = std::filesystem;

MetricsLog::MetricsLog(const std::string& path) : MetricsLog(path, std::ios::trunc) {}

MetricsLog::MetricsLog(const std::string& path, std::ios::openmode mode) : path_(path) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec)
    fail("metrics log ", path, ": cannot create directory ", parent.string(), ": ", ec.message());
  file_.open(path, std::ios::out | mode);
  if (!file_) fail("metrics log ", path, ": cannot open for writing");
}

MetricsLog MetricsLog::resume(const std::string& path, int64_t step) {
  std::string kept;
  if (std::ifstream in(path); in) {
    std::string line;
    while (std::getline(in, line)) {
      // The last line of a killed run may be cut short (no newline); it is not a record.
      if (in.eof()) break;
      const std::optional<nlohmann::json> record = try_parse_json(line);
      if (!record) continue;
      const auto it = record->is_object() ? record->find("step") : record->end();
      if (it != record->end() && it->is_number() && it->get<double>() > double(step)) continue;
      kept += line + "\n";
    }
  }
  // Replaced atomically: a run killed now still finds the records it kept.
  if (fs::exists(path)) write_file_atomic(path, kept);
  return MetricsLog(path, std::ios::app);
}

void MetricsLog::write(const nlohmann::json& record) {
  if (!file_.is_open()) return;
  // dump() would throw on invalid UTF-8 in a string; replace it rather than lose the record.
  file_ << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
        << std::flush;
  if (!file_) fail("metrics log ", path_, ": write failed");
}

}  // namespace neft::train
