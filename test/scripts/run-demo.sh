#!/bin/bash
# make demo: installs what is missing, builds, installs, and runs doc/demo.sql
# in a throwaway cluster that is dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

./test/scripts/ensure-deps.sh
. test/scripts/common.sh
build_and_install
pg_virtualenv -t -v 15 psql -X -q -f doc/demo.sql
