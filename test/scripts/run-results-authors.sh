#!/bin/bash
# make results-authors: the paper authors' model on the embedded benchmark
# (doc/results.md), in a throwaway cluster; prints its table.
set -euo pipefail
cd "$(dirname "$0")/../.."

./test/scripts/ensure-deps.sh
. test/scripts/common.sh
build_and_install
pg_virtualenv -t -v 15 psql -X -q -f test/bench/results_authors.sql
