#!/bin/sh
# run-fuzz.sh: builds the libFuzzer harnesses of every parser of a file the
# server reads, with AddressSanitizer and UndefinedBehaviorSanitizer, and
# runs each for a bounded time (doc/fuzzing.md).
#
#   safetensors   model checkpoints (vqa_import_safetensors)
#   vqa_json      question, annotation and results JSON (the loaders)
#   features_tsv  region feature TSV files and their base64 (vqa_load_features)
#   vocab         WordPiece vocab.txt files, and the tokenizer over them
#   answer_list   answer-list files naming a model's answer classes
#
# Usage: run-fuzz.sh [HARNESS...]   (default: all)
# Seeds are read from test/fuzz/corpus/HARNESS/ and never written; what a
# run adds, the binaries and any crash go to a temporary directory, removed
# on success and kept, with its path printed, on a crash.
#
# Environment: FUZZ_SECONDS per harness (default 12; make fuzz uses 300),
# FUZZ_RUNS a cap on inputs per harness (default: none), FUZZ_CC (default
# clang). Each harness prints "fuzz NAME: N runs, 0 crashes"; the last line
# is "fuzz: K harnesses, N runs, 0 crashes" (exit 0), or says what crashed
# (exit 1), or that clang or libFuzzer is missing (exit 0, skipped; exit 2
# with FUZZ_REQUIRED=1).
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${FUZZ_SECONDS:-12}
runs=${FUZZ_RUNS:--1}
cc=${FUZZ_CC:-clang}
core="$root/src/core"

skip()
{
	echo "fuzz: skipped, $1"
	if [ "${FUZZ_REQUIRED:-0}" = 1 ]; then exit 2; fi
	exit 0
}

# the core sources and libraries a harness links
sources()
{
	case "$1" in
		safetensors) echo "$core/safetensors.c $core/error.c -lyajl" ;;
		vqa_json) echo "$core/vqa_json.c $core/error.c -lyajl" ;;
		features_tsv) echo "$core/features_tsv.c $core/base64.c $core/error.c -lm" ;;
		vocab) echo "$core/tokenizer.c $core/error.c -lutf8proc" ;;
		answer_list) echo "$core/answer_list.c $core/error.c -lyajl" ;;
		*) return 1 ;;
	esac
}

command -v "$cc" >/dev/null 2>&1 || skip "$cc not found (Debian: clang-14, libclang-rt-14-dev)"
harnesses=${*:-safetensors vqa_json features_tsv vocab answer_list}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX") || exit 1
total_runs=0
count=0

for h in $harnesses; do
	libs=$(sources "$h") || { echo "fuzz: no harness $h"; rm -rf "$tmp"; exit 1; }
	mkdir -p "$tmp/$h/corpus"
	# -fno-sanitize-recover makes any undefined behaviour a crash, not a warning.
	# shellcheck disable=SC2086
	if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Wall -Wextra -Werror -I"$root/include" -o "$tmp/$h/fuzz" \
		"$root/test/fuzz/${h}_fuzz.c" $libs >"$tmp/$h/build.log" 2>&1
	then
		if grep -q -i -e 'fuzzer' -e 'clang_rt' "$tmp/$h/build.log"; then
			rm -rf "$tmp"
			skip "libFuzzer is not available to $cc (Debian: libclang-rt-14-dev)"
		fi
		cat "$tmp/$h/build.log"
		echo "fuzz $h: build failed"
		rm -rf "$tmp"
		exit 1
	fi
	dict=""
	[ -f "$root/test/fuzz/$h.dict" ] && dict="-dict=$root/test/fuzz/$h.dict"
	# The first corpus directory is where libFuzzer adds new inputs: the temp one.
	# shellcheck disable=SC2086
	"$tmp/$h/fuzz" -runs="$runs" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 $dict -artifact_prefix="$tmp/$h/" \
		"$tmp/$h/corpus" "$root/test/fuzz/corpus/$h" >"$tmp/$h/fuzz.log" 2>&1
	status=$?
	done_runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$tmp/$h/fuzz.log" | tail -n 1)
	crashes=$(find "$tmp/$h" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
		-o -name 'oom-*' \) | wc -l)
	if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		tail -n 40 "$tmp/$h/fuzz.log"
		echo "inputs that failed, and the full log, are in $tmp/$h"
		echo "fuzz $h: ${done_runs:-?} runs, $crashes crashing inputs (libFuzzer exit $status)"
		exit 1
	fi
	corpus=$(find "$tmp/$h/corpus" -type f | wc -l)
	echo "fuzz $h: ${done_runs:-0} runs in ${seconds} s, $corpus new corpus inputs, 0 crashes"
	total_runs=$((total_runs + ${done_runs:-0}))
	count=$((count + 1))
done
rm -rf "$tmp"
echo "fuzz: $count harnesses, $total_runs runs, 0 crashes"
exit 0
