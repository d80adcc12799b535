#!/bin/sh
# run-fuzz.sh: builds the safetensors fuzz harness with libFuzzer, AddressSanitizer
# and UndefinedBehaviorSanitizer, and runs it on a bounded number of inputs.
#
# Run from anywhere; it works from the project root it lives in. Everything it
# writes (binary, grown corpus, crash files) goes to a temporary directory,
# removed on success and kept, with its path printed, on a crash. The seeds in
# test/fuzz/corpus/ are read only:
#   valid-f32        metadata and two F32 tensors, as the writer lays them out
#   valid-mixed      F16, BF16, I32, I64, a scalar, an empty tensor, a gap,
#                    an escaped non-ASCII name
#   bad-overlap      two tensors sharing bytes
#   bad-dtype-shape  an unsupported dtype and a negative dimension
#   bad-truncated    a header length beyond the end of the file
#
# Environment: FUZZ_RUNS (default 300000 inputs), FUZZ_MAX_TIME (default 45 s,
# a cap whichever comes first), FUZZ_CC (default clang). About 5 s on a
# laptop-class machine, build included.
#
# Last line: "fuzz safetensors: N runs, 0 crashes" (exit 0), or one saying how
# it crashed (exit 1), or that it was skipped because clang or libFuzzer is
# missing (exit 0; set FUZZ_REQUIRED=1 to make that exit 2).
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${FUZZ_RUNS:-300000}
max_time=${FUZZ_MAX_TIME:-45}
cc=${FUZZ_CC:-clang}

skip()
{
	echo "fuzz safetensors: skipped, $1"
	if [ "${FUZZ_REQUIRED:-0}" = 1 ]; then exit 2; fi
	exit 0
}

command -v "$cc" >/dev/null 2>&1 || skip "$cc not found (Debian: clang-14, libclang-rt-14-dev)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-safetensors.XXXXXX") || exit 1
mkdir "$tmp/corpus"

# -fno-sanitize-recover makes any undefined behaviour a crash, not a warning.
if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-Wall -Wextra -Werror -I"$root/include" -o "$tmp/safetensors_fuzz" \
	"$root/test/fuzz/safetensors_fuzz.c" "$root/src/core/safetensors.c" "$root/src/core/error.c" -lyajl \
	>"$tmp/build.log" 2>&1
then
	if grep -q -i -e 'fuzzer' -e 'clang_rt' "$tmp/build.log"; then
		rm -rf "$tmp"
		skip "libFuzzer is not available to $cc (Debian: libclang-rt-14-dev)"
	fi
	cat "$tmp/build.log"
	rm -rf "$tmp"
	echo "fuzz safetensors: build failed"
	exit 1
fi

# The first corpus directory is where libFuzzer adds new inputs: the temp one.
"$tmp/safetensors_fuzz" -runs="$runs" -max_total_time="$max_time" \
	-max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-dict="$root/test/fuzz/safetensors.dict" -artifact_prefix="$tmp/" \
	"$tmp/corpus" "$root/test/fuzz/corpus" >"$tmp/fuzz.log" 2>&1
status=$?

done_runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$tmp/fuzz.log" | tail -n 1)
crashes=$(find "$tmp" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)

if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
	tail -n 40 "$tmp/fuzz.log"
	echo "inputs that failed, and the full log, are in $tmp"
	noun=crashes
	[ "$crashes" -eq 1 ] && noun=crash
	echo "fuzz safetensors: ${done_runs:-?} runs, $crashes $noun (libFuzzer exit $status)"
	exit 1
fi
rm -rf "$tmp"
echo "fuzz safetensors: ${done_runs:-0} runs, 0 crashes"
exit 0
