// The losses a run's metrics.jsonl holds, as the tests that stop and resume runs compare them.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "runtime/json_file.h"
#include "tests/process/run_process.h"

namespace neft::testing {

// step -> the loss as the log wrote it; a step logged twice fails the test.
inline std::map<int64_t, std::string> logged_losses(const std::filesystem::path& metrics) {
  std::map<int64_t, std::string> losses;
  std::istringstream lines(slurp(metrics.string()));
  for (std::string line; std::getline(lines, line);) {
    const auto record = try_parse_json(line);
    if (!record || !record->contains("loss")) continue;
    const int64_t step = (*record)["step"].get<int64_t>();
    EXPECT_TRUE(losses.emplace(step, (*record)["loss"].dump()).second)
        << "step " << step << " logged twice";
  }
  return losses;
}

}  // namespace neft::testing
