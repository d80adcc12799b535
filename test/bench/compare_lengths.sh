#!/bin/bash
# The LXMERT-base training step on questions of real length, side by side in
# one run: vqaprune padding each batch to its longest question, PyTorch
# padding to 20 tokens (as LXMERT's own code does), and PyTorch given the
# same per-batch padding. Both sides compute the same steps: bench_lxmert
# draws each step's question lengths (the embedded benchmark's tokenised
# questions, or a distribution of mean 9 and maximum 20), batches bucketed by
# length as "length_buckets" does, and writes them for lxmert_ref.py --plan.
# Runs alternate between the three and repeat; the table gives medians.
#
# Usage: compare_lengths.sh BENCH_BINARY
#        (env BENCH_REPS, default 3; BENCH_THREADS, default "2 1")
set -euo pipefail
bench=$1
ref="$(dirname "$0")/lxmert_ref.py"
python=/usr/bin/python3
reps=${BENCH_REPS:-3}
threads_list=${BENCH_THREADS:-2 1}
steps=4
warmup=1
buckets=50
plan=$(mktemp /tmp/vqaprune-plan.XXXXXX)
trap 'rm -f "$plan"' EXIT

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| questions | threads | mean tokens | mean batch T | vqaprune per-batch ms | PyTorch padded to 20 ms | PyTorch per-batch ms | vs PyTorch padded to 20 (target 1.3x) | vs PyTorch per-batch (target 1.0x) |"
echo "|---|---|---|---|---|---|---|---|---|"
for lengths in synthetic mean9; do
	for threads in $threads_list; do
		c_ms=() f_ms=() b_ms=()
		for ((r = 0; r < reps; r++)); do
			common=(--shape base --batch 32 --threads "$threads" --steps $steps --warmup $warmup)
			c=$(nice -n 19 "$bench" "${common[@]}" --lengths $lengths --buckets $buckets --plan "$plan")
			f=$(nice -n 19 $python "$ref" --bench "${common[@]}" --plan "$plan" --padding fixed)
			b=$(nice -n 19 $python "$ref" --bench "${common[@]}" --plan "$plan" --padding batch)
			echo "$c" >&2
			echo "$f" >&2
			echo "$b" >&2
			c_ms+=("$(echo "$c" | field step_ms)")
			f_ms+=("$(echo "$f" | field step_ms)")
			b_ms+=("$(echo "$b" | field step_ms)")
			mean_length=$(echo "$c" | field mean_length)
			mean_T=$(echo "$c" | field mean_T)
		done
		cm=$(printf '%s\n' "${c_ms[@]}" | median)
		fm=$(printf '%s\n' "${f_ms[@]}" | median)
		bm=$(printf '%s\n' "${b_ms[@]}" | median)
		awk -v q="$lengths" -v t="$threads" -v ml="$mean_length" -v mt="$mean_T" \
			-v c="$cm" -v f="$fm" -v b="$bm" \
			'BEGIN { printf "| %s | %d | %.2f | %.2f | %.0f | %.0f | %.0f | **%.2fx** | **%.2fx** |\n",
				q, t, ml, mt, c, f, b, f / c, b / c }'
	done
done
