#!/bin/sh
# test_systemd_unit.sh — the unit make install puts in
# $PREFIX/lib/systemd/system: systemd-analyze verify accepts it (its
# ExecStart names the installed dshmd, its Documentation the installed
# man page), and it asks for what dshmd needs: Type=notify, the runtime
# directory of root's default socket, and the sandbox.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${DSHM_TEST_DIR:-/tmp}/unit.XXXXXX")
trap 'rm -rf "$work"' EXIT

make -s -C "$top" install PREFIX="$work/prefix" >/dev/null
unit=$work/prefix/lib/systemd/system/dshmd.service
[ -f "$unit" ] || { echo "systemd: $unit missing"; exit 1; }
grep -q "^ExecStart=$work/prefix/bin/dshmd " "$unit" ||
	{ echo "systemd: ExecStart does not name the installed dshmd"; exit 1; }
for want in Type=notify RuntimeDirectory=dshm NoNewPrivileges=yes PrivateTmp=yes \
	ProtectSystem=strict KillMode=mixed; do
	grep -qx "$want" "$unit" || { echo "systemd: the unit lacks $want"; exit 1; }
done
if ! out=$(MANPATH=$work/prefix/share/man systemd-analyze verify "$unit" 2>&1) ||
	[ -n "$out" ]; then
	echo "systemd: systemd-analyze verify $unit said:"
	echo "$out"
	exit 1
fi
# The runtime directory is where root's default socket lives.
"$work/prefix/bin/dshmd" --help | tr '\n' ' ' | grep -q "root's  */run/dshm/dshm.sock" ||
	{ echo "systemd: root's default socket is no longer in /run/dshm"; exit 1; }
echo "systemd: the installed unit verifies (Type=notify, /run/dshm, sandboxed)"
