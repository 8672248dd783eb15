#!/bin/sh
# install-clang.sh — installs Debian's clang (which brings libFuzzer and
# the sanitizer runtimes) when missing, for `make fuzz`; apt-get, through
# sudo when not root.  Also what the other build dependencies need
# (tests/install-deps.sh).
set -eu

tests/install-deps.sh
command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1 && exit 0

echo "install-clang: installing clang"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-clang: clang is missing, and neither root nor sudo to install it" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends clang
