#!/bin/bash
# Inside a throwaway cluster (PGHOST etc. set by pg_virtualenv): pg_regress
# over sql/ and expected/, then the pgTAP suites under test/pgtap.
set -uo pipefail
status=0

if ! make -s installcheck; then
	[ -f regression.diffs ] && cat regression.diffs
	status=1
fi

createdb vqaprune_tap
psql -q -d vqaprune_tap -c "CREATE EXTENSION vqaprune; CREATE EXTENSION pgtap;" || exit 1
pg_prove -d vqaprune_tap test/pgtap/*.sql || status=1
dropdb vqaprune_tap
exit $status
