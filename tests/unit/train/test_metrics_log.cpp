// The JSONL metrics log: one flushed JSON object per line, parent directories created, and a
// resumed run continuing the log as if it had never been interrupted.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "runtime/error.h"
#include "tests/unit/temp_dir.h"
#include "train/metrics_log.h"

namespace neft::train {
namespace {

namespace fs = std::filesystem;
using ::neft::testing::read_text;
using ::neft::testing::TempDir;
using ::neft::testing::write_text;
using nlohmann::json;

std::vector<json> records_in(const fs::path& path) {
  std::vector<json> records;
  std::istringstream lines(read_text(path));
  for (std::string line; std::getline(lines, line);) records.push_back(json::parse(line));
  return records;
}

TEST(LaunchMetricsLog, OneFlushedObjectPerLine) {
  TempDir tmp;
  const fs::path path = tmp.path() / "run" / "nested" / "metrics.jsonl";  // parents missing
  MetricsLog log(path.string());
  log.write({{"step", 1}, {"loss", 2.5}, {"lr", 1e-3}});
  // Flushed: readable while the log is still open (a killed run keeps it).
  EXPECT_EQ(read_text(path), "{\"loss\":2.5,\"lr\":0.001,\"step\":1}\n");
  log.write({{"step", 2}, {"loss", NAN}, {"task", "copy"}});
  const std::vector<json> records = records_in(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["step"], 2);
  EXPECT_TRUE(records[1]["loss"].is_null());  // JSON has no NaN
  EXPECT_EQ(records[1]["task"], "copy");
}

TEST(LaunchMetricsLog, FreshRunStartsAnEmptyLog) {
  TempDir tmp;
  const fs::path path = tmp.path() / "metrics.jsonl";
  write_text(path, "{\"step\":1}\n");
  MetricsLog log(path.string());
  log.write({{"step", 7}});
  EXPECT_EQ(read_text(path), "{\"step\":7}\n");
}

TEST(LaunchMetricsLog, ResumeKeepsWhatTheCheckpointCovers) {
  TempDir tmp;
  const fs::path path = tmp.path() / "metrics.jsonl";
  // Steps 1-5 logged, then the run was killed mid-write; its checkpoint is at step 3.
  write_text(path,
             "{\"event\":\"start\"}\n{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n{\"step\":4}\n"
             "{\"step\":5}\n{\"step\":6,\"lo");
  MetricsLog log = MetricsLog::resume(path.string(), 3);
  log.write({{"step", 4}, {"resumed", true}});
  EXPECT_EQ(read_text(path),
            "{\"event\":\"start\"}\n{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n"
            "{\"resumed\":true,\"step\":4}\n");
}

TEST(LaunchMetricsLog, ResumeWithoutALogStartsOne) {
  TempDir tmp;
  const fs::path path = tmp.path() / "new" / "metrics.jsonl";
  MetricsLog log = MetricsLog::resume(path.string(), 10);
  log.write({{"step", 11}});
  EXPECT_EQ(read_text(path), "{\"step\":11}\n");
}

TEST(LaunchMetricsLog, DisabledLogWritesNothing) {
  MetricsLog log;
  EXPECT_FALSE(log.enabled());
  log.write({{"step", 1}});  // a no-op, not an error
}

TEST(LaunchMetricsLog, UnwritablePathIsNamed) {
  TempDir tmp;
  const fs::path blocker = tmp.path() / "file";
  write_text(blocker, "x");
  const std::string path = (blocker / "metrics.jsonl").string();
  try {
    MetricsLog log(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("metrics log " + path + ": cannot create directory", 0),
              0u)
        << e.what();
  }
}

}  // namespace
}  // namespace neft::train
