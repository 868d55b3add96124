#!/bin/sh
# Checks the Debian packages p2pns needs to build, test and run; installs the missing
# ones when run as root, otherwise prints the exact command and fails.
set -eu

PACKAGES="
build-essential
clang
libclang-rt-14-dev
pkg-config
openssl
libssl-dev
libxmlrpc-core-c3-dev
libmicrohttpd-dev
liblmdb-dev
libevent-dev
libcmocka-dev
python3
python3-pytest
python3-cryptography
python3-opendht
gnuplot-nox
kamailio
kamailio-utils-modules
kamailio-xml-modules
sip-tester
"

missing=""
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

echo "p2pns: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "p2pns: install them as root with:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
