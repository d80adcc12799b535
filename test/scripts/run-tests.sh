#!/bin/bash
# make test: installs what is missing, builds, installs, then runs the C unit
# tests of the core, bounded fuzzing runs of every file parser,
# pg_regress and pgTAP in a throwaway cluster, and the Perl TAP suites (which
# start clusters of their own). Every runner runs; any failure fails the whole.
set -uo pipefail
cd "$(dirname "$0")/../.."

./test/scripts/ensure-deps.sh || exit 1
. test/scripts/common.sh
build_and_install || exit 1
make_scratch_dir

failed=()

echo "== C unit tests of the core"
make -s test/unit/run_unit_tests && ./test/unit/run_unit_tests || failed+=("unit")

echo "== fuzzing the file parsers (bounded, ASan and UBSan)"
FUZZ_REQUIRED=1 ./test/fuzz/run-fuzz.sh || failed+=("fuzz")

echo "== pg_regress and pgTAP"
# -t: the cluster's files go to a temporary directory even as root, so a
# 15/regress cluster left by another run cannot make this one refuse to start.
pg_virtualenv -t -v 15 ./test/scripts/run-sql-tests.sh || failed+=("sql")

echo "== Perl TAP"
as_server_user env TESTDIR="$scratch" PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
	VQAPRUNE_TEST_DATA="$VQAPRUNE_TEST_DATA" VQAPRUNE_FIXTURES="$VQAPRUNE_FIXTURES" \
	PATH="$PATH" prove -I "$PGXS_DIR/test/perl" test/t/*.pl || failed+=("tap")

if [ ${#failed[@]} -ne 0 ]; then
	echo "make test: FAILED: ${failed[*]}"
	exit 1
fi
echo "make test: all suites passed"
