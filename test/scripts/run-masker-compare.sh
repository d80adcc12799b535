#!/bin/bash
# make masker-compare: mask training with LMH at 0.7 from one BCE model on
# the embedded benchmark, in vqaprune and in test/bench/masker_ref.py (a
# PyTorch port of the paper authors' masker), with the same data, model,
# seed and recipes; prints the per-epoch test (OOD) accuracy of both side by
# side (doc/results.md). IMAGES (default 2000) sizes the benchmark; about
# 40 minutes on 2 cores at the default.
set -euo pipefail
cd "$(dirname "$0")/../.."

./test/scripts/ensure-deps.sh
. test/scripts/common.sh
build_and_install

IMAGES=${IMAGES:-2000}
CONFIG='{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128, "l_layers": 2,
 "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}'
# lr, epochs, batch size, seed: long curves at a large and a small lr, and
# the small-data recipe of doc/results.md over three seeds
RECIPES=("2e-3 15 64 1" "2e-4 15 64 1" "2e-3 5 64 1" "2e-3 5 64 2" "2e-3 5 64 3")

dir=$(mktemp -d /tmp/vqaprune-compare.XXXXXX)
trap 'rm -rf "$dir"' EXIT
chmod 777 "$dir"
json="["
for r in "${RECIPES[@]}"; do
	read -r lr epochs batch seed <<<"$r"
	json+="{\"lr\": $lr, \"epochs\": $epochs, \"batch_size\": $batch, \"seed\": $seed},"
done
json="${json%,}]"

pg_virtualenv -t -v 15 psql -X -q -v dir="$dir" -v images="$IMAGES" -v config="$CONFIG" \
	-v recipes="$json" -f test/bench/masker_compare.sql

n=0
for r in "${RECIPES[@]}"; do
	n=$((n + 1))
	read -r lr epochs batch seed <<<"$r"
	/usr/bin/python3 test/bench/masker_ref.py "$dir" --mode mask --loss lmh --sparsity 0.7 \
		--lr "$lr" --epochs "$epochs" --batch-size "$batch" --seed "$seed" --eval-split test \
		>"$dir/port_$n.jsonl"
done

echo "| recipe | epoch | vqaprune test (OOD) | PyTorch port test (OOD) |"
echo "|---|---|---|---|"
n=0
for r in "${RECIPES[@]}"; do
	n=$((n + 1))
	read -r lr epochs batch seed <<<"$r"
	/usr/bin/python3 - "$dir" "$n" "lr $lr, $epochs epochs, seed $seed" <<'EOF'
import json, sys
d, n, label = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ours = {}
for line in open(f"{d}/vqaprune_curves.tsv"):
    recipe, epoch, acc = line.split("\t")
    if int(recipe) == n:
        ours[int(epoch)] = float(acc)
port = {r["epoch"]: r["eval_accuracy"] for r in map(json.loads, open(f"{d}/port_{n}.jsonl"))}
for e in sorted(ours):
    print(f"| {label} | {e} | {ours[e]:.2f} | {port.get(e, float('nan')):.2f} |")
EOF
done
