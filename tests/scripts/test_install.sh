#!/bin/sh
# test_install.sh — the installed dshm, used as a program outside this
# tree would use it: `make install` into a scratch prefix, build
# examples/paging_demo.c and examples/shm_example.c with `pkg-config
# --cflags --libs dshm`, start the installed dshmd with 3 workers, run 8
# paging clients and the two-process segment example over the Unix
# socket and over TCP, and an unmodified System V program under the
# installed dshm-run.  Finally SIGTERM must leave no System V segment,
# segment file, socket or pidfile behind.
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${DSHM_TEST_DIR:-/tmp}/install.XXXXXX")
prefix=$work/prefix
sock=$work/d.sock
log=$work/dshmd.log
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

make -s -C "$top" install PREFIX="$prefix" >/dev/null
for f in bin/dshmd bin/dshm-ipcs bin/dshm-ipcrm bin/dshm-run include/dshm.h include/dshm_status.h \
	share/man/man8/dshmd.8 share/man/man3/dshm.3 share/man/man1/dshm-ipcs.1 \
	share/man/man1/dshm-ipcrm.1 share/man/man1/dshm-run.1 lib/libdshm.a lib/libdshm.so \
	lib/libdshm-preload.so lib/pkgconfig/dshm.pc; do
	[ -e "$prefix/$f" ] || { echo "install: $prefix/$f missing"; exit 1; }
done

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "$top/examples/paging_demo.c" \
	$(pkg-config --cflags --libs dshm) -Wl,-rpath,"$prefix/lib" -o "$work/paging_demo"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "$top/examples/shm_example.c" \
	$(pkg-config --cflags --libs dshm) -Wl,-rpath,"$prefix/lib" -o "$work/shm_example"

"$prefix/bin/dshmd" --workers 3 --unix "$sock" --listen 127.0.0.1:0 --memory 4M \
	--pidfile "$work/dshmd.pid" 2>"$log" &
pid=$!
i=0
until grep -q ' ready: ' "$log"; do
	i=$((i + 1))
	[ $i -le 1000 ] || { echo "dshmd did not become ready"; cat "$log"; exit 1; }
	kill -0 "$pid" || { echo "dshmd died"; cat "$log"; exit 1; }
	sleep 0.01
done
tcp=$(sed -n 's/.* tcp \([^ ]*\) workers.*/\1/p' "$log")
key=$(sed -n 's/.* ready: key \(0x[0-9a-f]*\) .*/\1/p' "$log")

"$work/paging_demo" "unix:$sock" "$tcp" 8
"$work/paging_demo" "$tcp" "unix:$sock" 8
# Two processes share a System V-style segment, over each transport.
"$work/shm_example" "unix:$sock" | grep -q 'read:  "hello back' ||
	{ echo "shm_example over unix failed"; exit 1; }
"$work/shm_example" "$tcp" | grep -q 'read:  "hello back' ||
	{ echo "shm_example over tcp failed"; exit 1; }

# An unmodified program, built without dshm, under the installed dshm-run
# (which finds its library by itself).
cc -std=gnu11 -Wall -Wextra -Werror "$top/tests/programs/ring.c" -o "$work/ring"
env -u DSHM_PRELOAD "$prefix/bin/dshm-run" --server "unix:$sock" "$work/ring" 0x7e5e0001 \
	>"$work/ring.out"
grep -q '200000 items, sum 59999900000, 0 out of order' "$work/ring.out" ||
	{ echo "ring under the installed dshm-run failed"; cat "$work/ring.out"; exit 1; }
# The consumer's _exit detaches it when dshmd sees its connection close:
# the removed segment's file goes then.
i=0
while ls /dev/shm | grep -q "^dshm\.seg\.$(printf %08x "$key")\."; do
	i=$((i + 1))
	[ $i -le 500 ] || { echo "segment files left after IPC_RMID:"; ls /dev/shm; exit 1; }
	sleep 0.01
done

# The installed dshm-ipcs finds the server from its socket and sees it whole.
"$prefix/bin/dshm-ipcs" --server "unix:$sock" --check
"$prefix/bin/dshm-ipcs" --server "unix:$sock" -w | grep -q serving ||
	{ echo "dshm-ipcs -w shows no serving worker"; exit 1; }

kill -TERM "$pid"
wait "$pid" || { echo "dshmd exited with status $?"; cat "$log"; exit 1; }
pid=""
[ ! -e "$sock" ] || { echo "socket left behind"; exit 1; }
[ ! -e "$work/dshmd.pid" ] || { echo "pidfile left behind"; exit 1; }
if ipcs -m | grep -qi "^$key "; then
	echo "segment $key left behind"
	exit 1
fi
if ls /dev/shm | grep -q "^dshm\.seg\.$(printf %08x "$key")\."; then
	echo "segment files of key $key left behind"
	exit 1
fi
echo "install: installed dshm served 2 x 8 client processes over unix and tcp"
