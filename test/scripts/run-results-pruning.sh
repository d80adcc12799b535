#!/bin/bash
# make results-pruning: the Stage 2 experiment of doc/results.md in a
# throwaway cluster; prints its tables and redraws doc/pruning.svg.
set -euo pipefail
cd "$(dirname "$0")/../.."

./test/scripts/ensure-deps.sh gnuplot-nox
. test/scripts/common.sh
build_and_install
pg_virtualenv -t -v 15 psql -X -q -f test/bench/results_pruning.sql
gnuplot doc/pruning.gnuplot
echo "plot: doc/pruning.svg"
