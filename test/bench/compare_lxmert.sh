#!/bin/bash
# Side by side, in one run: the C LXMERT (bench_lxmert) and the PyTorch
# reference (lxmert_ref.py), each step timing in a fresh process, at the same
# thread count and each at its best. The reference is first checked against
# the HuggingFace fixture, so both sides are known to compute the same model.
# Prints a Markdown table of samples/s, achieved GFLOP/s (against the sgemm
# rate measured here) and peak memory, with vqaprune / PyTorch ratios.
#
# Usage: compare_lxmert.sh BENCH_BINARY FIXTURE_DIR
set -euo pipefail
bench=$1
fixture=$2
ref="$(dirname "$0")/lxmert_ref.py"
python=/usr/bin/python3

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

echo "== the PyTorch reference against the HuggingFace fixture"
$python "$ref" --check "$fixture" | tail -1

declare -A sgemm
for t in 1 2; do
	sgemm[c$t]=$("$bench" --sgemm 2048 --threads $t | field gflops)
	sgemm[t$t]=$($python "$ref" --sgemm 2048 --threads $t | field gflops)
done

# row SHAPE BATCH THREADS [extra reference options]
row() {
	local shape=$1 batch=$2 threads=$3 c t
	shift 3
	c=$("$bench" --shape "$shape" --batch "$batch" --threads "$threads")
	t=$($python "$ref" --bench --shape "$shape" --batch "$batch" --threads "$threads" "$@")
	echo "$c" >&2
	echo "$t" >&2
	awk -v shape="$shape" -v batch="$batch" -v threads="$threads" \
		-v cs="$(echo "$c" | field samples_per_s)" -v ts="$(echo "$t" | field samples_per_s)" \
		-v cg="$(echo "$c" | field gflops)" -v tg="$(echo "$t" | field gflops)" \
		-v cm="$(echo "$c" | field peak_rss_mb)" -v tm="$(echo "$t" | field peak_rss_mb)" \
		-v csg="${sgemm[c$threads]}" -v tsg="${sgemm[t$threads]}" \
		-v torch="${1:+as installed}" \
		'BEGIN { printf "| %s | %d | %d | %s | %.2f | %.2f | **%.2fx** | %.1f (%.0f%%) | %.1f (%.0f%%) | %d | %d | %.2fx |\n",
			shape, batch, threads, torch ? torch : "tuned", cs, ts, cs / ts, cg, 100 * cg / csg,
			tg, 100 * tg / tsg, cm, tm, cm / tm }'
}

echo
echo "sgemm 2048, GFLOP/s: vqaprune (OpenBLAS) 1 thread ${sgemm[c1]}, 2 threads ${sgemm[c2]};" \
	"PyTorch 1 thread ${sgemm[t1]}, 2 threads ${sgemm[t2]}"
echo
echo "PyTorch tuned: OpenMP workers sleep between ops; as installed: libgomp's default (they spin)."
echo
echo "| shape | batch | threads | PyTorch | vqaprune samples/s | PyTorch samples/s | ratio | vqaprune GFLOP/s (of sgemm) | PyTorch GFLOP/s (of sgemm) | vqaprune peak MB | PyTorch peak MB | memory ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
row tiny 64 1
row tiny 64 2
row tiny 64 2 --openmp-as-installed
row base 32 1
row base 32 2
row base 32 2 --openmp-as-installed
