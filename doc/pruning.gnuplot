# The plot of doc/results.md (make results-pruning): OOD accuracy against
# sparsity for each way of finding a subnetwork, from doc/pruning.tsv.
set terminal svg size 760,440 dynamic font "sans,12"
set output "doc/pruning.svg"
set datafile separator "\t"
set title "Subnetworks of a BCE-trained tiny LXMERT, synthetic VQA-CP benchmark (3 seeds)"
set xlabel "sparsity (fraction of prunable weights removed)"
set ylabel "OOD (test) accuracy"
set key outside right
set grid
set xrange [0.05:0.95]
full = real(system("awk -F'\t' '$2 == \"full_bce\" { print $3 }' doc/pruning.tsv"))
row(k) = strcol(2) eq k ? $3 : NaN
plot "doc/pruning.tsv" using 1:(row("mask_lmh")):4 with yerrorlines lw 2 title "mask train (lmh)", \
	"" using 1:(row("mask_bce")):4 with yerrorlines lw 2 title "mask train (bce)", \
	"" using 1:(row("omp_lmh")):4 with yerrorlines lw 2 title "OMP + lmh ft", \
	"" using 1:(row("omp_bce")):4 with yerrorlines lw 2 title "OMP + bce ft", \
	full with lines dashtype 2 lc rgb "black" title "full lxmert(bce)"
