# plot.gp -- gnuplot script of `make bench-compare`: throughput against p99
# latency per system (one line per system through the shapes 1x1, 16x16,
# 64x16), writes (set) on the left and local reads on the right. Reads
# `datafile` (report.awk -v mode=plot: per system a block for set, then
# one for get-local, each opening with a header line naming the system,
# then "system workload ops p99_ms shape") with `nsys` systems, and
# writes the PNG `outfile`.
set terminal pngcairo size 1200,500 noenhanced font ",10"
set output outfile
set multiplot layout 1,2
set logscale xy
set grid
set key top right
set xlabel "throughput (ops/s)"
set ylabel "p99 latency (ms)"
set title "writes: set 128 B (1x1, 16x16, 64x16)"
# blocks: index 2*s = set, 2*s+1 = get-local, for systems s = 0, 1, 2
plot for [s=0:nsys-1] datafile index (2*s) using 3:4 with linespoints \
         pt 7 title columnhead(1), \
     for [s=0:nsys-1] datafile index (2*s) using 3:4:5 with labels offset 0,1 \
         notitle
set title "local reads (coord get-local, ZooKeeper get, etcd serializable)"
plot for [s=0:nsys-1] datafile index (2*s+1) using 3:4 with linespoints \
         pt 7 title columnhead(1), \
     for [s=0:nsys-1] datafile index (2*s+1) using 3:4:5 with labels \
         offset 0,1 notitle
unset multiplot
