# Measured lookup success against the analytical P(success) = 1 - (1 - (1 - m)^h)^d
# (a path of h hops succeeds when all its nodes are honest; d disjoint paths fail only if
# all do), with h the mean hop count measured at each point. Reads a --table CSV:
#   gnuplot -e "csv='doc/sim/closer-k8-alpha1.csv'; png='doc/sim/formula-k8-alpha1.png'" \
#       doc/sim/formula.gp
set terminal pngcairo size 900,600 font 'sans,11'
set output png
set datafile separator ','
set title "measured success (points) and 1 - (1 - (1 - m)^h)^d at the measured h (lines)"
set xlabel 'fraction of malicious nodes m'
set ylabel 'successful lookups (%)'
set yrange [0:100.5]
set grid
set key bottom left
p(m, h, d) = 100 * (1 - (1 - (1 - m) ** h) ** d)
ds = "1 2 4 8"
plot for [i = 1:4] csv using ($1 == word(ds, i) + 0 ? $2 : 1/0):(100 * $3) \
        with points pt 7 ps 1.2 lc i title sprintf('measured, d = %s', word(ds, i)), \
     for [i = 1:4] csv using ($1 == word(ds, i) + 0 ? $2 : 1/0):(p($2, $4, word(ds, i) + 0)) \
        with lines lw 2 lc i title sprintf('formula, d = %s', word(ds, i))
