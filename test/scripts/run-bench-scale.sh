#!/bin/bash
# make bench-scale: the full-size benchmark of doc/benchmarks.md ("Full size:
# VQA-CP v2 on one server"). test/bench/bench_scale.sql in a fresh cluster (a
# VQA-CP-sized synthetic dataset with LXMERT's 36 x 2048 features, 11.8 GB:
# load, base-shape training and tiny-shape evaluation streamed from temporary
# files, streamed against in memory on a subset), then the core's
# forward-only pass against the training forward pass at base shape
# (test/bench/bench_prune --forward), and the core's own fine-tuning and
# mask-training steps at base shape for reference (--train). About 80
# minutes on 2 cores and 24 GB; about 40 GB of free disk under /tmp.
#
# make results-float16 (this script with "float16"): the accuracy of the
# Stage 1 BCE protocol with float32 and with float16 features
# (test/bench/float16_accuracy.sql), about 25 minutes.
#
# Usage: run-bench-scale.sh [float16] [psql options, e.g. -v images=400]
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=scale
if [ "${1:-}" = float16 ]; then mode=float16; shift; fi

./test/scripts/ensure-deps.sh
. test/scripts/common.sh
# the lock is shared with the other scripts that install into this server
flock /tmp/vqaprune-pg.lock sh -c 'make -s all && make -s install >/dev/null'

# A private cluster of the server user in a temporary directory, so that it
# can run as long as it takes beside other clusters. psql reads the script
# from stdin.
cluster() { as_server_user pg_virtualenv -t -v 15 psql -X -q "$@"; }

if [ $mode = float16 ]; then
	cluster "$@" -f - <test/bench/float16_accuracy.sql
	exit 0
fi

echo "== this machine's sgemm rate, for comparing figures across machines"
make -s test/bench/bench_lxmert test/bench/bench_prune
for t in 1 2; do ./test/bench/bench_lxmert --sgemm 2048 --threads $t; done

echo "== the full-size benchmark in SQL"
cluster "$@" -f - <test/bench/bench_scale.sql

echo "== evaluation's forward pass alone against the training forward pass, base shape, 2 threads"
for batch in 32 64 256; do
	./test/bench/bench_prune --shape base --forward --batch $batch --threads 2
done
echo "== the core's training steps alone at base shape, batch 32, 2 threads (LMH)"
./test/bench/bench_prune --shape base --train --threads 2
