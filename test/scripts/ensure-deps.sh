#!/bin/sh
# Installs the Debian packages vqaprune needs to build, test and demo, and
# only those that are missing. Usage: ensure-deps.sh [extra packages...]
set -eu

packages="make gcc postgresql-15 postgresql-common postgresql-server-dev-15 \
libyajl-dev libutf8proc-dev zlib1g-dev libcmocka-dev libopenblas-dev pkg-config clang libclang-rt-14-dev \
postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libipc-run-perl $*"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	sudo=""
elif command -v sudo >/dev/null 2>&1; then
	sudo="sudo"
else
	echo "vqaprune needs these Debian packages:$missing" >&2
	echo "install them as root: apt-get install$missing" >&2
	exit 1
fi
echo "installing Debian packages:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
