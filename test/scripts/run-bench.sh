#!/bin/bash
# make bench: the loaders' speed, in the core alone and end to end through
# SQL in a throwaway cluster, on a VQA-CP-sized question file (438,183
# questions) and 2,000 images of LXMERT-sized features; then LXMERT training
# steps of the C model side by side with the PyTorch reference, at 20 tokens
# and on questions of real length; then the
# costs of pruning (mask-training steps, sparse evaluation, compact storage).
# Figures are recorded in doc/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

./test/scripts/ensure-deps.sh python3-torch python3-numpy
. test/scripts/common.sh
build_and_install
make -s test/bench/bench_loaders test/bench/bench_lxmert test/bench/bench_prune

dir=$(mktemp -d /tmp/vqaprune-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"
echo "== core readers (best of 3)"
./test/bench/bench_loaders "$dir"
chmod -R a+r "$dir"
echo "== through SQL (one run, rows written and committed)"
VQAPRUNE_BENCH_DIR="$dir" pg_virtualenv -t -v 15 psql -X -q -f test/bench/load_sql.sql

echo "== LXMERT training step (forward, backward, Adam), vqaprune and PyTorch"
./test/bench/compare_lxmert.sh ./test/bench/bench_lxmert "${VQAPRUNE_FIXTURES:-test/fixtures}/hf-lxmert/tiny"

echo "== LXMERT-base training step on questions of real length (bucketed, medians of alternated runs)"
./test/bench/compare_lengths.sh ./test/bench/bench_lxmert

echo "== fine-tuning through SQL against the core's steps (tiny model, LMH, 2 threads)"
pg_virtualenv -t -v 15 psql -X -q -f test/bench/train_sql.sql

echo "== pruning: a mask-training step against a fine-tuning step of the same model (LMH, 0.7)"
for shape in tiny base; do
	for t in 1 2; do ./test/bench/bench_prune --shape $shape --train --threads $t; done
done
echo "== pruning: evaluating a magnitude-pruned model, dense against sparse kernels"
for s in 0.7 0.8 0.9; do
	for t in 1 2; do ./test/bench/bench_prune --shape base --eval --sparsity $s --threads $t; done
done
for t in 1 2; do ./test/bench/bench_prune --shape tiny --eval --sparsity 0.9 --batch 256 --threads $t; done
echo "== pruning: the sparse kernels alone, on every instruction set this CPU runs (sparse and OpenBLAS alike)"
for path in avx512:SkylakeX avx2:Haswell baseline:Prescott; do
	VQAPRUNE_SPARSE_ISA=${path%%:*} OPENBLAS_CORETYPE=${path##*:} \
		./test/bench/bench_prune --shape base --kernel --sparsity 0.9 --threads 1 | grep "isa=${path%%:*} " || true
done
echo "== pruning: a Stage 3 step, dense masked against sparse"
for s in 0.5 0.7 0.8 0.9; do ./test/bench/bench_prune --shape base --stage3 --sparsity $s --threads 2; done
echo "== thread scaling, 1 to 2 threads, of every step kind (base shape; Stage 3 and evaluation at 0.9)"
./test/bench/bench_prune --shape base --scaling --sparsity 0.9 --threads 2
echo "== pruning: bytes of a compacted model against dense float32"
for shape in tiny base; do ./test/bench/bench_prune --shape $shape --storage --sparsity 0.7; done
