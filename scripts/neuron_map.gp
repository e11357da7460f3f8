# The neuron map of `neft report --png`: where each neuron-level run's selected neurons sit.
# One panel per run; rows are layers, columns the neuron kinds (ffn, qo, kv); a cell is the
# share of that layer's neurons of that kind the run trained (blank: a kind it did not choose
# from). One colour scale for all panels, so panels compare.
#
#   gnuplot -c scripts/neuron_map.gp MAP.tsv MAP.png LAYERS '"run a" "run b"'
#
# MAP.tsv is what `neft report` writes: one data block per run (gnuplot's `index`), columns
# run, layer, kind, column, selected, units, share.
tsv = ARG1
png = ARG2
layers = int(ARG3)
labels = ARG4
n = words(labels)

set datafile separator "\t"
stats tsv using 7 nooutput
top = (STATS_max > 0) ? STATS_max : 1

set terminal pngcairo size (60 + 170 * n), (110 + 34 * layers) font "sans,9"
set output png
set multiplot layout 1, n margins 0.07, 0.90, 0.14, 0.78 spacing 0.02, 0 \
  title "share of each layer's neurons trained (grey: a kind not chosen from)"
set xrange [-0.5:2.5]
set yrange [-0.5:layers - 0.5]
set xtics ("ffn" 0, "qo" 1, "kv" 2) scale 0
set ytics 1 scale 0
set cbrange [0:100 * top]
set palette defined (0 "#f7fbff", 0.5 "#6baed6", 1 "#08306b")
set tics nomirror
unset key
# A grey ground shows through where a cell is NaN; 0% is the palette's white.
set object 1 rectangle from graph 0, 0 to graph 1, 1 behind fillcolor rgb "#d9d9d9" fillstyle solid noborder
do for [i = 1:n] {
  set title word(labels, i)
  if (i == 1) { set ylabel "layer" } else { unset ylabel; set format y "" }
  if (i == n) { set colorbox user origin 0.92, 0.14 size 0.02, 0.64; set cbtics format "%.0f%%" } \
  else { unset colorbox }
  plot tsv index (i - 1) using 4:2:($7 * 100) with image
}
unset multiplot
