# The picture of `neft continual --png`: the accuracy matrix A[i][j] (exact match on task j
# after stage i) as a heatmap with its values. The diagonal is each task just after training on
# it; below it in each column, what later stages left of it (forgetting).
#
#   gnuplot -c scripts/continual.gp ACC.tsv ACC.png '"after a" "after b"' '"a" "b"' METHOD
#
# ACC.tsv is what `neft continual` writes: one line per cell, stage, task, accuracy.
tsv = ARG1
png = ARG2
rows = ARG3
cols = ARG4
method = ARG5
n = words(rows)
m = words(cols)

set datafile separator "\t"
set terminal pngcairo size (220 + 90 * m), (140 + 60 * n) font "sans,9" noenhanced
set output png
set title sprintf("%s: exact match on each task after each stage", method)
set xrange [-0.5:m - 0.5]
set yrange [n - 0.5:-0.5]
set xtics () scale 0
set ytics () scale 0
do for [j = 1:m] { set xtics add (word(cols, j) j - 1) }
do for [i = 1:n] { set ytics add (word(rows, i) i - 1) }
set cbrange [0:1]
set cbtics format "%.0f%%" 0.25
set format cb "%.0f"
set cbtics ("0%%" 0, "25%%" 0.25, "50%%" 0.5, "75%%" 0.75, "100%%" 1)
set palette defined (0 "#f7fbff", 0.5 "#6baed6", 1 "#08306b")
unset key
plot tsv using 2:1:3 with image, \
     '' using 2:1:(sprintf("%.0f%%", 100 * $3)) with labels tc rgb "#d95f02"
