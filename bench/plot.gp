# SPDX-License-Identifier: LGPL-2.1-or-later
# Cost against N from bench/run-all.sh's startup-vs-n.dat:
#   gnuplot -e "datafile='BUILD/bench/startup-vs-n.dat'; outfile='BUILD/bench/startup-vs-n.png'" bench/plot.gp
# Left: start-up, the floor, lspci -vvv and pci-assignd to READY=1 (wall-clock
# medians, bars min..max of the runs; dashed: CPU-time medians), log-log.
# Right: GetManagedObjects round trip (left axis) and the daemon's RSS after
# the calls (right axis), with their targets.
# Columns: 1 N, 2-4 floor median/min/max, 5-7 lspci, 8-10 READY, 11 GMO ms,
# 12 RSS MiB, 13-15 CPU ms of floor, lspci, READY.
if (!exists("datafile")) datafile = 'build/bench/startup-vs-n.dat'
if (!exists("outfile")) outfile = 'build/bench/startup-vs-n.png'

set terminal pngcairo size 1400,560 font "DejaVu Sans,11" noenhanced
set output outfile
set multiplot layout 1,2 title "pci-assignd: cost against the number of PCI functions (one run of bench/run-all.sh)"

set logscale xy 2
set xrange [180:5800]
set xtics ("256" 256, "512" 512, "1024" 1024, "2048" 2048, "4096" 4096)
set format y "%g"
set grid xtics ytics mytics lc rgb "#dddddd"
set xlabel "PCI functions (N)"
set key bottom right box opaque

set title "start-up: wall clock (solid, min..max bars) and CPU time (dashed)"
set ylabel "ms"
set logscale y 10
set yrange [*:*]
plot datafile u 1:2:3:4 w yerrorlines lw 2 pt 7 lc rgb "#1b9e77" t "floor (sysfs-floor)", \
     ''       u 1:5:6:7 w yerrorlines lw 2 pt 5 lc rgb "#7570b3" t "peer (lspci -vvv)", \
     ''       u 1:8:9:10 w yerrorlines lw 2 pt 9 lc rgb "#d95f02" t "pci-assignd to READY=1", \
     ''       u 1:13 w lp dt 2 lw 1.5 pt 6 lc rgb "#1b9e77" t "floor CPU", \
     ''       u 1:14 w lp dt 2 lw 1.5 pt 4 lc rgb "#7570b3" t "lspci CPU", \
     ''       u 1:15 w lp dt 2 lw 1.5 pt 8 lc rgb "#d95f02" t "pci-assignd CPU to READY"

set title "GetManagedObjects round trip and RSS"
set ylabel "GetManagedObjects, ms (median)"
set logscale y 10
set y2label "RSS after the calls, MiB"
unset logscale y2
stats datafile u 12 nooutput name "RSS"
set y2range [0:(RSS_max > 8 ? RSS_max : 8) * 1.3]
set y2tics
set ytics nomirror
set key bottom right
plot datafile u 1:11 w lp lw 2 pt 7 lc rgb "#e7298a" t "GetManagedObjects (ms, left)", \
     50 w l dt 3 lw 2 lc rgb "#e7298a" t "target 50 ms", \
     ''       u 1:12 axes x1y2 w lp lw 2 pt 5 lc rgb "#666666" t "RSS (MiB, right)", \
     8 axes x1y2 w l dt 3 lw 2 lc rgb "#666666" t "target 8 MiB"
unset multiplot
