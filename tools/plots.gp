# gnuplot script: the R1-Zero figures from runs/zero/log.csv (called by make plots)
# usage: gnuplot -e "run='runs/zero'" tools/plots.gp
if (!exists("run")) run = 'runs/zero'
set datafile separator ","
set terminal pngcairo size 800,500 noenhanced
set key bottom right
set grid
set xlabel "RL step"
csv = run.'/log.csv'

set output run.'/accuracy.png'
set title "Held-out accuracy during RL (cf. R1 paper, Figure 2)"
set ylabel "accuracy"
set yrange [0:1]
plot csv using 1:13 with linespoints title "greedy (held-out)", \
     csv using 1:14 with linespoints title "pass@1 (held-out)", \
     csv using 1:3 with lines lc rgb "#bbbbbb" title "train batch accuracy"

set output run.'/length.png'
set title "Mean response length during RL (cf. R1 paper, Figure 3)"
set ylabel "tokens"
set autoscale y
plot csv using 1:15 with linespoints title "held-out (sampled)", \
     csv using 1:4 with lines lc rgb "#bbbbbb" title "train batch"

set output run.'/reflection.png'
set title "Share of responses that check or say wait (the 'aha' words)"
set ylabel "share of responses"
set yrange [0:1]
plot csv using 1:16 with linespoints title "held-out (sampled)", \
     csv using 1:($18 >= 0 ? $18 : NaN) with linespoints title "held-out: checked among chains", \
     csv using 1:5 with lines lc rgb "#bbbbbb" title "train batch"
