#!/bin/sh
# install-deps.sh — installs the Debian packages dshm builds and tests
# with, when any is missing (apt-get; through sudo when not root).
# Arguments name more packages a target needs (stress-ng for check-stress).
set -eu

# iproute2: the two-host test links network namespaces with ip(8).
# libsodium-dev: the challenge-response of --auth-file.
# liburing-dev: the workers' io_uring loop (--io uring).
# systemd, man-db: systemd-analyze verify checks the unit make install puts in place.
PACKAGES="gcc make pkg-config libbsd-dev libcmocka-dev libsystemd-dev libsodium-dev liburing-dev valgrind iproute2 systemd man-db $*"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps: missing$missing, and neither root nor sudo to install them" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
