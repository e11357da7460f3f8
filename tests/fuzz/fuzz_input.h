// What the fuzz targets share. The project's readers take paths, so each input is written to
// a file in a directory of this process's own (under TMPDIR; made once, removed at exit). And
// the one rule for bad input: a reader returns or throws neft::Error (a one-line message);
// any other exception escaping is a finding, reported with its type and message before
// aborting, so that libFuzzer keeps the input.
#pragma once
#include <cxxabi.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <typeinfo>

#include "runtime/error.h"

namespace neft::fuzz {

class ScratchDir {
 public:
  ScratchDir()
      : path_(std::filesystem::temp_directory_path() /
              ("neft-fuzz-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline const std::filesystem::path& scratch_dir() {
  static const ScratchDir dir;
  return dir.path();
}

// Writes the bytes to `path` (replacing it) and returns the path.
inline std::string write_file(const std::filesystem::path& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), std::streamsize(size));
  if (!out.flush()) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path.string();
}

// The input as scratch_dir()/name.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  return write_file(scratch_dir() / name, data, size);
}

// Runs `read`; a neft::Error is a correct answer to bad input, anything else is a finding.
template <class F>
void expect_only_project_errors(F&& read) {
  try {
    read();
  } catch (const neft::Error&) {
  } catch (const std::exception& e) {
    std::unique_ptr<char, void (*)(void*)> type(
        abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, nullptr), std::free);
    std::fprintf(stderr, "fuzz: a non-project exception escaped: %s: %s\n",
                 type ? type.get() : typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz: an exception of unknown type escaped\n");
    std::abort();
  }
}

}  // namespace neft::fuzz
