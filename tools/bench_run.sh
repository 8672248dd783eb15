#!/bin/sh
# bench_run.sh — `make bench`: dshmd against memcached and Redis, side by side
# in one run, and against the loopback baseline.
#
# Installs memcached and redis-server from Debian when missing; starts
# memcached (-t 2, one instance on 127.0.0.1:PORT, one on a Unix socket:
# memcached serves one or the other), redis-server (no persistence, default
# io-threads, 127.0.0.1:PORT and a Unix socket) and build/release/dshmd
# (--workers 2, 127.0.0.1:PORT and a Unix socket, twice: on its default
# loop and with --io epoll), all on loopback; runs dshm-bench over the
# matrix transport x workload x connections x depth for each backend in
# turn, measuring each server's CPU time per request too; writes
# build/bench/results.md (the tables, the targets, --busy-poll, the scale
# measurements) and build/bench/raw.txt (one line per run); stops only
# the processes it started, by PID.
#
# Environment: BENCH_SECONDS (per run, default 1); BENCH_REPEAT (runs of
# each point, the backends interleaved, the median standing; default 3);
# BENCH_CONNS ("1 8 50"), BENCH_DEPTHS ("1 16"), BENCH_WORKLOADS ("read
# write mix"), BENCH_TRANSPORTS ("tcp unix"); BENCH_SCALE (1: also the
# pinned latency runs, the 16 GiB arena and 10,000 idle connections; 0
# skips them); BENCH_MATRIX (0 skips the matrix); BENCH_FAULTS (0 skips the
# fault path of coherent pages, which needs root); BENCH_OUT (build/bench).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=$top/build/release/dshm-bench
dshmd=$top/build/release/dshmd
secs=${BENCH_SECONDS:-1}
repeat=${BENCH_REPEAT:-3}
conns_list=${BENCH_CONNS:-1 8 50}
depths=${BENCH_DEPTHS:-1 16}
workloads=${BENCH_WORKLOADS:-read write mix}
transports=${BENCH_TRANSPORTS:-tcp unix}
scale=${BENCH_SCALE:-1}
out=${BENCH_OUT:-$top/build/bench}
backends="dshm dshm-epoll memcached redis-range redis-kv baseline"

# --- packages --------------------------------------------------------------
missing=""
for p in memcached redis-server; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "bench: installing$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi
for f in "$bench" "$dshmd"; do
	[ -x "$f" ] || { echo "bench: $f missing: run make release" >&2; exit 1; }
done

# --- servers ---------------------------------------------------------------
mkdir -p "$out"
work=$(mktemp -d /tmp/dshm-bench.XXXXXX)
started="" # PIDs of the servers this script started
cleanup() {
	for p in $started; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $started; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for FILE PATTERN PID: until FILE holds PATTERN (PID must stay alive).
wait_for() {
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 1000 ] || ! kill -0 "$3" 2>/dev/null; then
			echo "bench: server $3 did not start; its log:" >&2
			cat "$1" >&2
			exit 1
		fi
		sleep 0.01
	done
}

# wait_socket PATH: until the Unix socket exists.
wait_socket() {
	i=0
	until [ -S "$1" ]; do
		i=$((i + 1))
		[ $i -le 1000 ] || { echo "bench: no socket $1" >&2; exit 1; }
		sleep 0.01
	done
}

wait_port() {
	i=0
	until "$bench" --backend memcached --addr "$1" --seconds 0.01 --no-verify >/dev/null 2>&1 ||
		[ $i -gt 100 ]; do
		i=$((i + 1))
		sleep 0.05
	done
}

# start_dshmd NAME MEMORY [OPTION...]: dshmd with 2 workers; sets dshmd_pid, dshm_tcp, dshm_unix.
start_dshmd() {
	log=$work/$1.log
	dshm_unix=$work/$1.sock
	mem=$2
	shift 2
	"$dshmd" --workers 2 --memory "$mem" --unix "$dshm_unix" --listen 127.0.0.1:0 "$@" 2>"$log" &
	dshmd_pid=$!
	started="$started $dshmd_pid"
	wait_for "$log" ' ready: ' "$dshmd_pid"
	dshm_tcp=$(sed -n 's/.* tcp \([^ ]*\) workers.*/\1/p' "$log")
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	started=$(echo "$started" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

mc_port=$("$bench" --free-port)
memcached -t 2 -m 1024 -c 4096 -U 0 -l 127.0.0.1 -p "$mc_port" -u "$(id -un)" \
	>"$work/memcached-tcp.log" 2>&1 &
mc_tcp_pid=$!
started="$started $!"
memcached -t 2 -m 1024 -c 4096 -s "$work/memcached.sock" -u "$(id -un)" \
	>"$work/memcached-unix.log" 2>&1 &
mc_unix_pid=$!
started="$started $!"
redis_port=$("$bench" --free-port)
redis-server --port "$redis_port" --bind 127.0.0.1 --unixsocket "$work/redis.sock" \
	--save '' --appendonly no --daemonize no --logfile "$work/redis.log" \
	--maxclients 4096 --dir "$work" >/dev/null 2>&1 &
redis_pid=$!
started="$started $!"
# The same dshmd twice: its default loop (io_uring where the kernel has it)
# and the epoll loop, so each run says what the loop changes.
start_dshmd dshmd-epoll 64M --io epoll
epoll_pid=$dshmd_pid epoll_tcp=$dshm_tcp epoll_unix=$dshm_unix
start_dshmd dshmd 64M
io=$(sed -n 's/.* info: io: //p' "$work/dshmd.log")
wait_socket "$work/memcached.sock"
wait_socket "$work/redis.sock"
wait_port "127.0.0.1:$mc_port"

addr_of() { # BACKEND TRANSPORT
	case $1:$2 in
	dshm:tcp) echo "$dshm_tcp" ;;
	dshm:unix) echo "unix:$dshm_unix" ;;
	dshm-epoll:tcp) echo "$epoll_tcp" ;;
	dshm-epoll:unix) echo "unix:$epoll_unix" ;;
	memcached:tcp) echo "127.0.0.1:$mc_port" ;;
	memcached:unix) echo "unix:$work/memcached.sock" ;;
	redis-*:tcp) echo "127.0.0.1:$redis_port" ;;
	redis-*:unix) echo "unix:$work/redis.sock" ;;
	baseline:tcp) echo "127.0.0.1:0" ;;
	baseline:unix) echo "unix:$work/baseline.sock" ;;
	esac
}

# pid_of BACKEND TRANSPORT: the server whose CPU time is measured (none for the
# baseline: dshm-bench measures the process it starts itself).
pid_of() {
	case $1:$2 in
	dshm:*) echo "$dshmd_pid" ;;
	dshm-epoll:*) echo "$epoll_pid" ;;
	memcached:tcp) echo "$mc_tcp_pid" ;;
	memcached:unix) echo "$mc_unix_pid" ;;
	redis-*) echo "$redis_pid" ;;
	*) echo 0 ;;
	esac
}

# --- the matrix --------------------------------------------------------------
raw=$out/raw.txt
: >"$raw"
machine="$(nproc) vCPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(uname -sr), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
versions="dshm $(git -C "$top" describe --always --dirty 2>/dev/null || echo '?') (io: $io), $(memcached -V), $(redis-server --version | cut -d' ' -f1-3)"
echo "bench: $machine"
echo "bench: $versions"
echo "bench: $secs s per run; raw lines in $raw"

[ "${BENCH_MATRIX:-1}" = 1 ] || transports_matrix=""
for tr in ${transports_matrix-$transports}; do
	for wl in $workloads; do
		for c in $conns_list; do
			for d in $depths; do
				rep=0
				while [ $rep -lt "$repeat" ]; do
					rep=$((rep + 1))
					for be in $backends; do
						line=$("$bench" --backend "${be%-epoll}" --addr "$(addr_of "$be" "$tr")" \
							--workload "$wl" --conns "$c" --depth "$d" --seconds "$secs" \
							--server-pid "$(pid_of "$be" "$tr")" 2>>"$work/bench.err") || true
						[ -n "$line" ] || line="backend=$be transport=$tr workload=$wl conns=$c depth=$d ops_s=0 status=failed"
						echo "$line" | sed "s/^backend=dshm /backend=$be /" >>"$raw"
					done
				done
				echo "bench: $tr $wl conns $c depth $d done"
			done
		done
	done
done

# --- placement: one connection, depth 1, client and server pinned ------------------
# dshmd (both workers) runs under taskset; the baseline pins its own server
# threads.  "same": client and server on CPU 0; "across": client on CPU 0,
# server on CPU 1.
if [ "$scale" = 1 ] && [ "$(nproc)" -ge 2 ]; then
	stop_pid "$dshmd_pid"
	for place in same across; do
		scpu=0
		[ $place = same ] || scpu=1
		log=$work/pin$place.log
		dshm_unix=$work/pin$place.sock
		taskset -c $scpu "$dshmd" --workers 2 --memory 64M --unix "$dshm_unix" \
			--listen 127.0.0.1:0 2>"$log" &
		dshmd_pid=$!
		started="$started $dshmd_pid"
		wait_for "$log" ' ready: ' "$dshmd_pid"
		dshm_tcp=$(sed -n 's/.* tcp \([^ ]*\) workers.*/\1/p' "$log")
		for tr in $transports; do
			for wl in read write; do
				for be in dshm baseline; do
					line=$("$bench" --backend "$be" --addr "$(addr_of "$be" "$tr")" --workload $wl \
						--seconds "$secs" --client-cpu 0 --server-cpu $scpu \
						--label "pinned-$place" 2>>"$work/bench.err") || true
					echo "pinned $line" >>"$raw"
				done
			done
		done
		stop_pid "$dshmd_pid"
	done
	# --busy-poll: what a lone client's p50 gains, and what the spin costs in
	# server CPU, pinned the same way (client on CPU 0, server on CPU 1).
	for bp in 0 50; do
		log=$work/busy$bp.log
		dshm_unix=$work/busy$bp.sock
		taskset -c 1 "$dshmd" --workers 2 --memory 64M --unix "$dshm_unix" \
			--listen 127.0.0.1:0 --busy-poll $bp 2>"$log" &
		dshmd_pid=$!
		started="$started $dshmd_pid"
		wait_for "$log" ' ready: ' "$dshmd_pid"
		dshm_tcp=$(sed -n 's/.* tcp \([^ ]*\) workers.*/\1/p' "$log")
		for tr in $transports; do
			rep=0
			while [ $rep -lt "$repeat" ]; do
				rep=$((rep + 1))
				line=$("$bench" --addr "$(addr_of dshm "$tr")" --workload read --seconds "$secs" \
					--client-cpu 0 --server-pid "$dshmd_pid" --label "busy-poll-$bp" \
					2>>"$work/bench.err") || true
				echo "busy $line" >>"$raw"
			done
		done
		stop_pid "$dshmd_pid"
	done
	start_dshmd dshmd 64M
fi

# --- scale: 16 GiB arena, idle connections ----------------------------------------
# Both servers run at once and the runs alternate between them, so the two
# see the same machine; the median of max(BENCH_REPEAT, 3) runs stands.
# startup_ms LOG: from the "starting" line to the "ready" line, by dshmd's clock.
startup_ms() {
	awk '/ starting: / { s = $1 } / ready: / { r = $1 }
	     function ms(t) { split(substr(t, 12, 12), a, ":"); return (a[1] * 3600 + a[2] * 60 + a[3]) * 1000 }
	     END { printf "%.0f", ms(r) - ms(s) }' "$1"
}
if [ "$scale" = 1 ]; then
	echo "bench: scale: 64 MiB against 16 GiB"
	stop_pid "$dshmd_pid"
	# 10,000 idle connections need room above dshmd's default connection limit.
	maxconn=""
	"$dshmd" --help 2>&1 | grep -q -- --max-connections && maxconn="--max-connections 12000"
	for m in 64M 16G; do
		# shellcheck disable=SC2086
		start_dshmd "scale$m" "$m" $maxconn
		mem=$m
		eval "pid_$mem=\$dshmd_pid"
		l=$work/scale$mem.log
		ms=$(startup_ms "$l")
		tb=$(sed -n 's/.*table \([0-9]*\) bytes.*/\1/p' "$l")
		ab=$(sed -n 's/.*(arena \([0-9]*\) bytes.*/\1/p' "$l")
		pct=$(awk -v t="$tb" -v a="$ab" 'BEGIN { printf "%.3f", (a > 0 ? 100 * t / a : 0) }')
		echo "scale mem=$mem startup_ms=$ms arena_bytes=$ab table_bytes=$tb table_pct=$pct" >>"$raw"
	done
	n=$repeat
	[ "$n" -ge 3 ] || n=3
	rep=0
	while [ $rep -lt "$n" ]; do
		rep=$((rep + 1))
		for mem in 64M 16G; do
			"$bench" --addr "unix:$work/scale$mem.sock" --workload read --conns 8 --depth 16 \
				--seconds "$secs" --label "$mem-read-8x16" 2>>"$work/bench.err" |
				sed 's/^/scalerun /' >>"$raw" || true
			"$bench" --addr "unix:$work/scale$mem.sock" --workload write --conns 8 --depth 1 \
				--seconds "$secs" --label "$mem-write-8x1" 2>>"$work/bench.err" |
				sed 's/^/scalerun /' >>"$raw" || true
		done
	done
	# shellcheck disable=SC2154
	idle=$("$bench" --addr "unix:$work/scale64M.sock" --idle 10000 --server-pid "$pid_64M" 2>&1 | tail -n 1)
	echo "scale mem=64M $idle" >>"$raw"
	# shellcheck disable=SC2154
	stop_pid "$pid_64M"
	# shellcheck disable=SC2154
	stop_pid "$pid_16G"
fi

# --- the fault path: coherent pages across hosts -----------------------------------
# Three dshmds on loopback stand for three hosts: the home of the segment
# (--peer-listen), the measured host and a third, whose copies the host's
# writes invalidate (--peer-auth both).  Root only: the pagers take the
# kernel's faults through userfaultfd.  The run with the median read miss stands.
if [ "$(id -u)" = 0 ] && [ "${BENCH_FAULTS:-1}" = 1 ]; then
	echo "bench: the fault path"
	key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
	echo "hosts 0 0 $key" >"$work/peer-server.auth"
	echo "hosts $key" >"$work/peer-client.auth"
	chmod 600 "$work/peer-server.auth" "$work/peer-client.auth"
	start_dshmd fhome 64M --peer-listen 127.0.0.1:0 --auth-file "$work/peer-server.auth"
	fhome_pid=$dshmd_pid fhome_unix=$dshm_unix fhome_tcp=$dshm_tcp
	start_dshmd fhost 64M --peer-auth "$work/peer-client.auth"
	fhost_pid=$dshmd_pid fhost_unix=$dshm_unix
	start_dshmd fother 64M --peer-auth "$work/peer-client.auth"
	fother_pid=$dshmd_pid fother_unix=$dshm_unix
	rep=0
	while [ $rep -lt "$repeat" ]; do
		rep=$((rep + 1))
		for other in none "unix:$fother_unix"; do
			set -- --faults --addr "$fhome_tcp" --home "unix:$fhome_unix" --local "unix:$fhost_unix"
			[ "$other" = none ] || set -- "$@" --other "$other"
			DSHM_AUTH_FILE=$work/peer-client.auth "$bench" "$@" --seconds 2 \
				2>>"$work/bench.err" >>"$raw" || echo "faults status=failed" >>"$raw"
		done
	done
	stop_pid "$fhome_pid"
	stop_pid "$fhost_pid"
	stop_pid "$fother_pid"
fi

# --- the table -----------------------------------------------------------------
res=$out/results.md
cat >"$work/table.awk" <<'EOF'
function field(name,    i, kv) {
	for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return substr($i, length(name) + 2) }
	return ""
}
function r(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
function k(v) { return v >= 1000 ? sprintf("%.1fk", v / 1000) : sprintf("%d", v) }
function max(a, b) { return a > b ? a : b }
$1 == "scale" { scale[++nscale] = $0; next }
$1 == "scalerun" {
	sk = field("label")
	if (!(sk in sseen)) { sseen[sk] = 1; sorder[++ns] = sk }
	sv[sk, ++sc[sk]] = field("ops_s") + 0
	next
}
$1 == "faults" {
	fk = field("other_host")
	if (!(fk in fseen)) { fseen[fk] = 1; forder[++nf] = fk }
	fline[fk, ++fc[fk]] = $0
	fmiss[fk, fc[fk]] = field("read_miss_over_rtt") + 0
	if (field("status") != "ok") bad = bad "- " $0 "\n"
	next
}
$1 == "busy" {
	bk = field("label") " " field("transport")
	if (!(bk in bseen)) { bseen[bk] = 1; border[++nb] = bk }
	bp50[bk, ++bc[bk]] = field("p50_us") + 0
	bcpu[bk, bc[bk]] = field("server_cpu_pct") + 0
	next
}
$1 == "pinned" {
	pk = field("label") " " field("transport") " " field("workload")
	if (!(pk in pseen)) { pseen[pk] = 1; porder[++np] = pk }
	pp50[pk, field("backend")] = field("p50_us") + 0
	pp99[pk, field("backend")] = field("p99_us") + 0
	next
}
{
	key = field("transport") " " field("workload") " " field("conns") " " field("depth")
	be = field("backend")
	if (!(key in seen)) { seen[key] = 1; order[++n] = key }
	c = ++cnt[key, be]
	L[key, be, c] = $0
	O[key, be, c] = field("status") == "ok" ? field("ops_s") + 0 : 0
	if (field("status") != "ok") bad = bad "\n- " $0
}
# Of the repeats of one point, the run with the median ops/s stands for it.
# dshm's pinned p50 over the ping-pong's at the same placement (0: no baseline).
function pratio(pk) { return pp50[pk, "baseline"] > 0 ? pp50[pk, "dshm"] / pp50[pk, "baseline"] : 0 }
function pick(key, be,    c, i, j, t, idx) {
	c = cnt[key, be]
	if (!c) return
	for (i = 1; i <= c; i++) idx[i] = i
	for (i = 2; i <= c; i++)
		for (j = i; j > 1 && O[key, be, idx[j - 1]] > O[key, be, idx[j]]; j--) { t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t }
	$0 = L[key, be, idx[int((c + 1) / 2)]]
	ops[key, be] = field("status") == "ok" ? field("ops_s") + 0 : 0
	mbs[key, be] = field("mb_s") + 0
	lat[key, be] = field("p50_us") "/" field("p99_us") "/" field("p999_us")
	p50[key, be] = field("p50_us") + 0
	cpu[key, be] = field("server_cpu_us_per_op") + 0
}
function c2(v) { return v > 0 ? sprintf("%.2f", v) : "-" }
# The lower CPU per request of memcached and Redis (either way of using it).
function peer_cpu(key,    m) {
	m = 0
	if (cpu[key, "memcached"] > 0) m = cpu[key, "memcached"]
	if (cpu[key, "redis-range"] > 0 && (m == 0 || cpu[key, "redis-range"] < m)) m = cpu[key, "redis-range"]
	if (cpu[key, "redis-kv"] > 0 && (m == 0 || cpu[key, "redis-kv"] < m)) m = cpu[key, "redis-kv"]
	return m
}
END {
	split("dshm memcached redis-range redis-kv baseline dshm-epoll", bes, " ")
	for (i = 1; i <= n; i++) for (b = 1; b <= 6; b++) pick(order[i], bes[b])
	printf "# dshm-bench results\n\n%s; %s; %s s per run, median of %s; 4096-byte values, 64 keys per connection; client threads min(conns, 2); nothing pinned to a CPU.\n\n", machine, versions, secs, repeat
	if (n) {
		print "ops/s per backend; ratios are dshm's ops/s over the other's (best = the faster of memcached, Redis range and Redis kv; base = the loopback baseline moving dshm's bytes); latency is dshm's p50/p99/p99.9 in µs, then the baseline's p50.\n"
		print "| transport | workload | conns | depth | dshm | memcached | redis range | redis kv | baseline | dshm/mc | dshm/redis | dshm/best | dshm/base | dshm MB/s | dshm lat µs | base p50 |"
		print "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
		for (i = 1; i <= n; i++) {
			key = order[i]; split(key, f, " ")
			d = ops[key, "dshm"]; mc = ops[key, "memcached"]; rr = ops[key, "redis-range"]; rk = ops[key, "redis-kv"]; b = ops[key, "baseline"]
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s |\n", f[1], f[2], f[3], f[4],
				k(d), k(mc), k(rr), k(rk), k(b), r(d, mc), r(d, max(rr, rk)), r(d, max(mc, max(rr, rk))), r(d, b),
				mbs[key, "dshm"], lat[key, "dshm"], p50[key, "baseline"]
		}
		print "\n## Server CPU per request\n"
		print "CPU time (user + system, every thread, children included) the server spent over each run's measured interval, divided by its requests, in µs; the same median runs as above. dshm runs its default loop (" io "); dshm epoll is the same dshmd with --io epoll. peers = the lower of memcached's and Redis's.\n"
		print "| transport | workload | conns | depth | dshm | dshm epoll | memcached | redis range | redis kv | baseline | dshm/peers | dshm/epoll CPU | dshm/epoll ops/s |"
		print "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= n; i++) {
			key = order[i]; split(key, f, " ")
			pc = peer_cpu(key)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[4],
				c2(cpu[key, "dshm"]), c2(cpu[key, "dshm-epoll"]), c2(cpu[key, "memcached"]), c2(cpu[key, "redis-range"]),
				c2(cpu[key, "redis-kv"]), c2(cpu[key, "baseline"]), r(cpu[key, "dshm"], pc),
				r(cpu[key, "dshm"], cpu[key, "dshm-epoll"]), r(ops[key, "dshm"], ops[key, "dshm-epoll"])
		}
		print "\n## Targets (issue 13: server CPU per request)\n"
		print "| target | transport | measured | met |"
		print "|---|---|---|---|"
		split("tcp unix", trs, " ")
		for (t = 1; t <= 2; t++)
			for (cc = 1; cc <= 2; cc++)
				for (w = 1; w <= 2; w++) {
					tr = trs[t]; nc = cc == 1 ? 50 : 8; wl = w == 1 ? "read" : "write"; key = tr " " wl " " nc " 1"
					if (!(key in seen)) continue
					pc = peer_cpu(key)
					x = pc > 0 ? cpu[key, "dshm"] / pc : 0
					printf "| %d conns, depth 1, %s: dshm's CPU per request ≤ 0.6 × peers' | %s | %s µs vs %s µs = %.2f× | %s |\n", nc, wl, tr, c2(cpu[key, "dshm"]), c2(pc), x, ((x > 0 && x <= 0.6) ? "met" : "not met")
				}
		print "\n## Targets (issue 5)\n"
		print "| target | transport | measured | met |"
		print "|---|---|---|---|"
		split("tcp unix", trs, " ")
		for (t = 1; t <= 2; t++) {
			tr = trs[t]
			for (w = 1; w <= 2; w++) {
				wl = w == 1 ? "read" : "write"; key = tr " " wl " 50 1"
				if (!(key in seen)) continue
				best = max(ops[key, "memcached"], max(ops[key, "redis-range"], ops[key, "redis-kv"]))
				x = best > 0 ? ops[key, "dshm"] / best : 0
				printf "| 50 conns, depth 1, %s: dshm ≥ 1.3 × best | %s | %.2f× | %s |\n", wl, tr, x, (x >= 1.3 ? "met" : "not met")
			}
			for (w = 1; w <= 3; w++) {
				wl = w == 1 ? "read" : w == 2 ? "write" : "mix"; key = tr " " wl " 8 16"
				if (!(key in seen)) continue
				best = max(ops[key, "memcached"], max(ops[key, "redis-range"], ops[key, "redis-kv"]))
				x = best > 0 ? ops[key, "dshm"] / best : 0
				y = mbs[key, "baseline"] > 0 ? mbs[key, "dshm"] / mbs[key, "baseline"] : 0
				printf "| 8 conns, depth 16, %s: dshm ≥ 1.0 × best | %s | %.2f× | %s |\n", wl, tr, x, (x >= 1.0 ? "met" : "not met")
				printf "| 8 conns, depth 16, %s: dshm ≥ 85%% of the baseline stream | %s | %.0f%% | %s |\n", wl, tr, 100 * y, (y >= 0.85 ? "met" : "not met")
			}
			# One connection's latency is bimodal on a VM (one vCPU or two),
			# so the target is judged where both ends are placed the same
			# way: the pinned runs.  Unpinned, a run lands in either mode,
			# and its ratio says where each landed, not which is faster.
			for (i = 1; i <= np; i++) {
				pk = porder[i]; split(pk, f, " ")
				if (f[2] != tr) continue
				x = pratio(pk)
				printf "| 1 conn, depth 1, %s, pinned %s: dshm p50 ≤ 1.2 × ping-pong p50 | %s | %.1f µs vs %.1f µs = %.2f× | %s |\n", f[3], (substr(f[1], 8) == "same" ? "on one vCPU" : "across vCPUs"), tr, pp50[pk, "dshm"], pp50[pk, "baseline"], x, ((x > 0 && x <= 1.2) ? "met" : "not met")
			}
			for (w = 1; w <= 2 && !np; w++) {
				wl = w == 1 ? "read" : "write"; key = tr " " wl " 1 1"
				if (!(key in seen)) continue
				x = p50[key, "baseline"] > 0 ? p50[key, "dshm"] / p50[key, "baseline"] : 0
				printf "| 1 conn, depth 1, %s: dshm p50 ≤ 1.2 × ping-pong p50 (unpinned: either mode) | %s | %.1f µs vs %.1f µs = %.2f× | %s |\n", wl, tr, p50[key, "dshm"], p50[key, "baseline"], x, ((x > 0 && x <= 1.2) ? "met" : "not met")
			}
		}
	}
	if (np) {
		print "\n## One connection, depth 1, pinned (client on CPU 0; server on CPU 0 = same, CPU 1 = across)\n"
		print "| placement | transport | workload | dshm p50 µs | baseline p50 µs | ratio | dshm p99 µs | baseline p99 µs | ≤ 1.2× |"
		print "|---|---|---|---:|---:|---:|---:|---:|---|"
		for (i = 1; i <= np; i++) {
			pk = porder[i]; split(pk, f, " ")
			x = pratio(pk)
			printf "| %s | %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %s |\n", substr(f[1], 8), f[2], f[3],
				pp50[pk, "dshm"], pp50[pk, "baseline"], x, pp99[pk, "dshm"], pp99[pk, "baseline"], ((x > 0 && x <= 1.2) ? "met" : "not met")
		}
	}
	if (nb) {
		print "\n## --busy-poll: one connection, depth 1, reads (client on CPU 0, dshmd on CPU 1)\n"
		print "| busy-poll | transport | p50 µs | server CPU % |"
		print "|---|---|---:|---:|"
		for (i = 1; i <= nb; i++) {
			bk = border[i]; split(bk, f, " "); c = bc[bk]
			for (a = 2; a <= c; a++)
				for (b = a; b > 1 && bp50[bk, b - 1] > bp50[bk, b]; b--) {
					t = bp50[bk, b]; bp50[bk, b] = bp50[bk, b - 1]; bp50[bk, b - 1] = t
					t = bcpu[bk, b]; bcpu[bk, b] = bcpu[bk, b - 1]; bcpu[bk, b - 1] = t
				}
			m = int((c + 1) / 2)
			printf "| %s µs | %s | %.1f | %.0f |\n", substr(f[1], 11), f[2], bp50[bk, m], bcpu[bk, m]
		}
	}
	if (nf) {
		print "\n## The fault path: coherent pages across hosts (three dshmds on loopback)\n"
		print "4 KiB pages; per-fault p50 in µs, and over the 4 KiB dshm_read round trip of the same run;"
		print "uffd floor: the kernel's userfaultfd round trip alone (a fault answered by a thread of the same process)."
		print "Targets: read miss ≤ 1.5× the round trip; a held page at local speed (≤ 1.1×); ≥ 3,000 handoffs/s.\n"
		print "| third host | 4 KiB RTT µs | uffd floor | read miss | upgrade | write miss | held / local | handoffs/s | miss ≤ 1.5× | held local | ≥ 3,000/s |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
		for (i = 1; i <= nf; i++) {
			fk = forder[i]; c = fc[fk]
			for (a = 2; a <= c; a++)
				for (b = a; b > 1 && fmiss[fk, b - 1] > fmiss[fk, b]; b--) {
					t = fmiss[fk, b]; fmiss[fk, b] = fmiss[fk, b - 1]; fmiss[fk, b - 1] = t
					t = fline[fk, b]; fline[fk, b] = fline[fk, b - 1]; fline[fk, b - 1] = t
				}
			$0 = fline[fk, int((c + 1) / 2)]
			printf "| %s | %.1f | %.1f (%.2f×) | %.1f (%.2f×) | %.1f (%.2f×) | %.1f (%.2f×) | %.2f | %.0f | %s | %s | %s |\n", fk,
				field("rtt_4k_p50_us"), field("uffd_floor_p50_us"), field("uffd_floor_over_rtt"),
				field("read_miss_p50_us"), field("read_miss_over_rtt"),
				field("upgrade_p50_us"), field("upgrade_over_rtt"), field("write_miss_p50_us"),
				field("write_miss_over_rtt"), field("held_over_local"), field("handoffs_s"),
				(field("read_miss_over_rtt") + 0 <= 1.5 ? "met" : "not met"),
				(field("held_over_local") + 0 <= 1.1 ? "met" : "not met"),
				(field("handoffs_s") + 0 >= 3000 ? "met" : "not met")
		}
	}
	if (nscale) {
		print "\n## Scale\n"
		for (i = 1; i <= nscale; i++) print "- " substr(scale[i], 7)
		for (i = 1; i <= ns; i++) {
			sk = sorder[i]; c = sc[sk]
			for (a = 2; a <= c; a++)
				for (b = a; b > 1 && sv[sk, b - 1] > sv[sk, b]; b--) { t = sv[sk, b]; sv[sk, b] = sv[sk, b - 1]; sv[sk, b - 1] = t }
			med[sk] = sv[sk, int((c + 1) / 2)]
			printf "- %s: %.0f ops/s (median of %d)\n", sk, med[sk], c
		}
		split("read-8x16 write-8x1", kinds, " ")
		for (i = 1; i <= 2; i++)
			if (med["64M-" kinds[i]] > 0)
				printf "- 16G/64M, %s: %.3f (target: within 10%%: %s)\n", kinds[i], med["16G-" kinds[i]] / med["64M-" kinds[i]],
					((med["16G-" kinds[i]] / med["64M-" kinds[i]] >= 0.9) ? "met" : "not met")
	}
	if (bad != "") print "\n## Runs that failed or read wrong data\n" bad
}
EOF
awk -v machine="$machine" -v versions="$versions" -v secs="$secs" -v repeat="$repeat" -v io="$io" \
	-f "$work/table.awk" "$raw" >"$res"
cat "$res"
echo "bench: table in $res"
if [ -s "$work/bench.err" ]; then
	echo "bench: dshm-bench said:"
	sort "$work/bench.err" | uniq -c | sort -rn | head -n 20
fi
if grep -q ' status=\(wrong\|failed\)' "$raw"; then
	echo "bench: some runs failed or read back wrong data: see $res" >&2
	exit 1
fi
