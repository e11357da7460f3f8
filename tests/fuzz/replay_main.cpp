// A fuzz target without libFuzzer: `fuzz_X DIR...` runs the target once on every file in each
// directory, so the ordinary build's ctest replays the seed corpora (and any finding saved
// beside them) through the same reader calls. A target aborts on a finding; an empty or
// missing directory is an error here too, so the replay cannot pass by having read nothing.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  for (int a = 1; a < argc; ++a) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(argv[a], ec))
      if (entry.is_regular_file()) files.push_back(entry.path());
    if (ec || files.empty()) {
      std::fprintf(stderr, "%s: no input files in %s\n", argv[0], argv[a]);
      return 1;
    }
    for (const std::filesystem::path& file : files) {
      std::ifstream in(file, std::ios::binary);
      const std::string bytes(std::istreambuf_iterator<char>(in), {});
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("%s: %zu inputs of %s read\n", argv[0], files.size(), argv[a]);
  }
  return 0;
}
