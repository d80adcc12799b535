# Shared by the test, demo and bench scripts: run from the project root.

PG_BINDIR=$(pg_config --bindir)
PGXS_DIR=$(dirname "$(dirname "$(pg_config --pgxs)")")
export PATH="$PG_BINDIR:$PATH"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Builds the extension and installs it into the server pg_config names.
build_and_install() {
	make -s
	as_root make -s install >/dev/null
}

# PostgreSQL refuses to run as root: servers and the TAP suites run as the
# postgres user then, and as the calling user otherwise.
as_server_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A scratch directory the server can read: test data and fixtures are copied
# there, since the checkout itself may not be readable by the postgres user.
make_scratch_dir() {
	scratch=$(mktemp -d /tmp/vqaprune.XXXXXX)
	chmod 755 "$scratch"
	cp -r test/data "$scratch/data"
	cp -r "${VQAPRUNE_FIXTURES:-test/fixtures}" "$scratch/fixtures"
	chmod -R a+rX "$scratch"
	[ "$(id -u)" -eq 0 ] && chown -R postgres "$scratch"
	export VQAPRUNE_TEST_DATA="$scratch/data"
	export VQAPRUNE_FIXTURES="$scratch/fixtures"
	trap 'rm -rf "$scratch"' EXIT
}
