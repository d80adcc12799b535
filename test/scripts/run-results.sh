#!/bin/bash
# make results: the experiments of doc/results.md that train from random
# weights on the embedded benchmark (Stage 1 on VQA-CP, VisualBERT's Figure
# 7, VQA-VS's Table 2), each in a throwaway cluster; prints their tables.
# Arguments: the experiments to run (stage1, visualbert, vqavs), all by default.
set -euo pipefail
cd "$(dirname "$0")/../.."

./test/scripts/ensure-deps.sh
. test/scripts/common.sh
build_and_install
for experiment in "${@:-stage1 visualbert vqavs}"; do
	for e in $experiment; do
		case $e in
			stage1) file=test/bench/results.sql ;;
			visualbert) file=test/bench/results_visualbert.sql ;;
			vqavs) file=test/bench/results_vqavs.sql ;;
			*) echo "unknown experiment \"$e\": stage1, visualbert or vqavs" >&2; exit 2 ;;
		esac
		echo "== $e ($file)"
		pg_virtualenv -t -v 15 psql -X -q -f "$file"
	done
done
