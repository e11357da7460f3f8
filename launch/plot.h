// Pictures: a command writes its data as a TSV file and draws it into a PNG with gnuplot and
// one of the scripts in scripts/ (neuron_map.gp, overlap.gp, continual.gp), which stay readable
// and editable on their own. Without gnuplot the data are still written, and the command says
// so instead of failing.
#pragma once
#include <string>
#include <vector>

namespace neft::launch {

// Runs `gnuplot -c scripts/<script> args...` (no shell: paths and labels pass as they are) and
// prints "wrote PNG (data: TSV)"; prints why not and returns false when gnuplot is not on
// PATH or the script is not found (in the source tree holding the binary, or under the current
// directory). A gnuplot that fails is an error naming `command`, the files and the script.
bool draw_png(const std::string& script, const std::vector<std::string>& args,
              const std::string& png, const std::string& tsv, const std::string& command);

// Labels as one gnuplot string of words (word(labels, i) honours the double quotes).
std::string plot_words(const std::vector<std::string>& labels);

}  // namespace neft::launch
