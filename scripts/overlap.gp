# The picture of `neft analyze overlap --png`: left, the intersection over union of every
# pair of neuron sets as a heatmap with its values; right, each pair's IoU per layer.
#
#   gnuplot -c scripts/overlap.gp OVERLAP.tsv OVERLAP.png '"a" "b" "c"' '"a ∩ b" "a ∩ c" "b ∩ c"' LAYERS
#
# OVERLAP.tsv is what `neft analyze overlap` writes: block 0 (gnuplot's `index`) the matrix as
# row, column, IoU; block 1 one line per layer: layer, then one IoU per pair (NaN: neither set
# has a neuron in that layer).
tsv = ARG1
png = ARG2
labels = ARG3
pairs = ARG4
layers = int(ARG5)
n = words(labels)
m = words(pairs)

set datafile separator "\t"
set datafile missing "NaN"
set terminal pngcairo size 1100, 460 font "sans,9" noenhanced
set output png
set multiplot layout 1, 2 title "neuron-set overlap: intersection over union"

set title "whole model"
set size square
set xrange [-0.5:n - 0.5]
set yrange [n - 0.5:-0.5]
set xtics () scale 0
set ytics () scale 0
do for [i = 1:n] {
  set xtics add (word(labels, i) i - 1)
  set ytics add (word(labels, i) i - 1)
}
set cbrange [0:1]
set palette defined (0 "#f7fbff", 0.5 "#6baed6", 1 "#08306b")
unset key
plot tsv index 0 using 1:2:3 with image, \
     '' index 0 using 1:2:(sprintf("%.2f", $3)) with labels tc rgb "#d95f02"

set title "per layer"
set size nosquare
unset colorbox
set xrange [-0.5:layers - 0.5]
set xtics 1
set ytics auto
set yrange [0:1.02]
set xlabel "layer"
set ylabel "IoU"
set key outside right top
plot for [k = 1:m] tsv index 1 using 1:(column(k + 1)) with linespoints title word(pairs, k)
unset multiplot
