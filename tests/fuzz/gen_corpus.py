#!/usr/bin/env python3
"""gen_corpus.py — writes the seed corpora of the dshm fuzz targets.

    tests/fuzz/gen_corpus.py [OUT_DIR]     (default: tests/fuzz/corpus)

OUT_DIR/decode/seed-*: one request each (header, then body), for
fuzz_decode: a valid request of every opcode (the segment ones against
the shmids 17 and 18 that fuzz_decode's table holds) from each of the
four peers (the id's low two bits), and a few malformed ones.

OUT_DIR/handler/seed-*: client streams for fuzz_handler (a selector byte,
then the bytes; "#CN#" starts another connection): a session of every
opcode, one request of every opcode alone, permission checks across
connections and peers, and the framing cases (oversized, bad magic and
version, unknown opcode, wrong lengths, pipelining past the budget,
byte-by-byte arrival).  The encodings follow docs/PROTOCOL.md; the
shmids assume an empty table, as fuzz_handler starts every input with:
shmid = seq * 16 + slot, seq 1 for a slot's first segment.

Files it does not name are left alone (libFuzzer's merged finds).
"""
import os
import struct
import sys

MAGIC = 0xD54D
HELLO, PROC_INIT, PROC_ASSIGN, PROC_FINALIZE, PROC_WRITE, PROC_READ, STATS = range(1, 8)
IDENT, SHM_GET, SHM_CTL, SHM_ATTACH, SHM_DETACH, SHM_READ, SHM_WRITE, AUTH = range(8, 16)
AUTH_CHALLENGE, AUTH_PROVE = 1, 2
MAX_BODY = (16 << 20) + 64

# <sys/ipc.h>, <sys/shm.h>
IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL = 0o1000, 0o2000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_INFO, SHM_STAT_ANY = 11, 12, 13, 14, 15
SHM_RDONLY, SHM_EXEC = 0o10000, 0o100000

# fuzz_handler's selector: the peer, the recv piece size, close the others first.
ROOT, USER, TCP, MATE = 0, 1, 2, 3
PIECE_ALL, PIECE_1, PIECE_2, PIECE_3, PIECE_7, PIECE_16, PIECE_100, PIECE_4096 = range(8)
CLOSE_OTHERS = 0x20
MUST_AUTH = 0x40  # the server has an --auth-file: a TCP peer authenticates first
LAZY = 0x80  # the client reads its replies only once 4 MiB of them wait
SEP = b"#CN#"


def header(op, rid, length, magic=MAGIC, version=1, status=0):
    return struct.pack(">HBBIiI", magic, version, op, rid & 0xFFFFFFFF, status, length)


def msg(op, body=b"", rid=1):
    return header(op, rid, len(body)) + body


def i32(*v):
    return struct.pack(">%di" % len(v), *v)


def u32(*v):
    return struct.pack(">%dI" % len(v), *v)


def u64(*v):
    return struct.pack(">%dQ" % len(v), *v)


def hello(rid=1):
    return msg(HELLO, rid=rid)


def stats(rid=1):
    return msg(STATS, rid=rid)


def proc_init(pid, pages, rid=1):
    return msg(PROC_INIT, i32(pid, pages), rid)


def proc_assign(pid, pages, rid=1):
    return msg(PROC_ASSIGN, i32(pid, pages), rid)


def proc_finalize(pid, rid=1):
    return msg(PROC_FINALIZE, i32(pid), rid)


def proc_write(pid, page, off, data, rid=1):
    return msg(PROC_WRITE, i32(pid, page, off, len(data)) + data, rid)


def proc_read(pid, page, off, size, rid=1):
    return msg(PROC_READ, i32(pid, page, off, size), rid)


def ident(pid, uid, gid, rid=1):
    return msg(IDENT, i32(pid) + u32(uid, gid), rid)


def shm_get(key, flags, size, rid=1):
    return msg(SHM_GET, i32(key, flags) + u64(size), rid)


def shm_ctl(shmid, cmd, uid=0, gid=0, mode=0, rid=1):
    return msg(SHM_CTL, i32(shmid, cmd) + u32(uid, gid, mode), rid)


def shm_attach(shmid, flags=0, lpid=0, rid=1):
    return msg(SHM_ATTACH, i32(shmid, flags, lpid), rid)


def shm_detach(shmid, rdonly=0, rid=1):
    return msg(SHM_DETACH, i32(shmid, rdonly), rid)


def shm_read(shmid, off, length, flags=0, known_gen=0, rid=1):
    return msg(SHM_READ, i32(shmid) + u32(flags) + u64(off, length, known_gen), rid)


def shm_write(shmid, runs, base_gen=0, rid=1):
    """runs: a list of (offset, bytes)."""
    head = i32(shmid) + u32(len(runs)) + u64(base_gen)
    head += b"".join(u64(off, len(data)) for off, data in runs)
    return msg(SHM_WRITE, head + b"".join(data for _, data in runs), rid)


def auth_challenge(name=b"fuzz", rid=1):
    return msg(AUTH, u32(AUTH_CHALLENGE) + name, rid)


def auth_prove(mac=b"\0" * 32, rid=1):
    return msg(AUTH, u32(AUTH_PROVE) + mac, rid)


def pattern(n, seed=1):
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(n))


def conn(selector, *messages):
    return bytes([selector]) + b"".join(messages)


def session(*conns):
    return SEP.join(conns)


def one_of_each(shmid, pid):
    """A valid request of every opcode, with ids 1..14."""
    return [
        hello(1),
        proc_init(pid, 3, 2),
        proc_assign(pid, 1, 3),
        proc_write(pid, 0, 200, pattern(100), 5),
        proc_read(pid, 0, 200, 100, 6),
        stats(7),
        ident(4242, 1000, 1000, 8),
        shm_get(0x1234, IPC_CREAT | 0o640, 1000, 9),
        shm_ctl(shmid, IPC_STAT, rid=10),
        shm_attach(shmid, 0, 0, 11),
        shm_read(shmid, 0, 64, 0, 0, 13),
        shm_write(shmid, [(0, pattern(16)), (500, pattern(40, 2))], 0, 14),
        shm_detach(shmid, 0, 12),
        proc_finalize(pid, 4),
    ]


def decode_seeds():
    seeds = {}
    for peer in range(4):
        rid = 0x100 + peer  # the low two bits choose fuzz_decode's peer
        s = {
            "hello": hello(rid),
            "stats": stats(rid),
            "proc_init": proc_init(7, 3, rid),
            "proc_assign": proc_assign(1, 2, rid),
            "proc_finalize": proc_finalize(1, rid),
            "proc_write": proc_write(1, 1, 250, pattern(300), rid),
            "proc_read": proc_read(1, 0, 0, 700, rid),
            "ident": ident(99, 1000, 1000, rid),
            "shm_get_create": shm_get(0x4444, IPC_CREAT | IPC_EXCL | 0o600, 4096, rid),
            "shm_get_existing": shm_get(0x5678, 0o444, 600, rid),
            "shm_ctl_stat": shm_ctl(17, IPC_STAT, rid=rid),
            "shm_ctl_shm_stat": shm_ctl(2, SHM_STAT, rid=rid),
            "shm_ctl_stat_any": shm_ctl(1, SHM_STAT_ANY, rid=rid),
            "shm_ctl_info": shm_ctl(0, IPC_INFO, rid=rid),
            "shm_ctl_shm_info": shm_ctl(0, SHM_INFO, rid=rid),
            "shm_ctl_set": shm_ctl(18, IPC_SET, 1000, 100, 0o640, rid=rid),
            "shm_ctl_rmid": shm_ctl(17, IPC_RMID, rid=rid),
            "shm_ctl_lock": shm_ctl(18, SHM_LOCK, rid=rid),
            "shm_attach": shm_attach(18, SHM_RDONLY, 0, rid),
            "shm_detach": shm_detach(17, 0, rid),
            "shm_read": shm_read(17, 100, 300, 1, 0, rid),
            "shm_read_18": shm_read(18, 0, 600, 0, 0, rid),
            "shm_write": shm_write(17, [(0, pattern(10)), (990, pattern(10, 3))], 0, rid),
            "shm_write_18": shm_write(18, [(300, pattern(300))], 5, rid),
            "auth_challenge": auth_challenge(b"fuzz", rid),
            "auth_prove": auth_prove(pattern(32), rid),
        }
        for name, data in s.items():
            seeds["seed-%s-peer%d" % (name, peer)] = data
    # id bit 2: a TCP peer that must authenticate first.
    seeds["seed-must-auth-hello"] = hello(0x106)
    seeds["seed-must-auth-challenge"] = auth_challenge(b"nobody", 0x106)
    seeds["seed-auth-long-name"] = auth_challenge(b"n" * 65, 0x106)
    seeds["seed-auth-unknown-step"] = msg(AUTH, u32(3) + b"xx", 0x106)
    seeds["seed-bad-magic"] = header(HELLO, 1, 0, magic=0x4D44)
    seeds["seed-bad-version"] = header(HELLO, 1, 0, version=2)
    seeds["seed-too-large"] = header(PROC_READ, 1, MAX_BODY + 1)
    seeds["seed-unknown-opcode"] = msg(200, b"abcd")
    seeds["seed-write-size-mismatch"] = msg(PROC_WRITE, i32(1, 0, 0, 5) + b"abcdef")
    seeds["seed-shm-write-runs-too-many"] = msg(SHM_WRITE, i32(17) + u32(0x10000000) + u64(0))
    seeds["seed-shm-write-run-overflow"] = msg(
        SHM_WRITE, i32(17) + u32(2) + u64(0) + u64(0, 2**64 - 1, 4, 2) + b"xy")
    seeds["seed-shm-read-too-large"] = shm_read(17, 0, (16 << 20) + 1)
    seeds["seed-shm-ctl-negative"] = shm_ctl(-1, IPC_STAT)
    return seeds


def handler_seeds():
    seeds = {}
    # The shmid of the first segment: slot 1 when a process took slot 0 first.
    for peer, name in ((ROOT, "root"), (USER, "user"), (TCP, "tcp"), (MATE, "mate")):
        seeds["seed-every-opcode-" + name] = conn(peer, *one_of_each(17, 42))
    for i, m in enumerate(one_of_each(16, 42)):
        seeds["seed-alone-%02d" % i] = conn(ROOT, m)
    seeds["seed-paging-session"] = conn(
        USER | PIECE_4096 << 2,
        hello(), proc_init(42, 4), proc_write(42, 0, 100, pattern(600)),
        proc_read(42, 0, 100, 600), proc_assign(42, 2), proc_write(42, 5, 255, b"xy"),
        proc_read(42, 5, 0, 256), proc_read(42, 6, 0, 1), proc_init(42, 1),
        proc_init(43, 64), proc_finalize(42), proc_finalize(42), stats())
    seeds["seed-segment-session"] = conn(
        ROOT | PIECE_16 << 2,
        ident(1, 2, 3), shm_get(0x1234, IPC_CREAT | 0o640, 1000), shm_attach(16),
        shm_write(16, [(0, pattern(300)), (900, pattern(100))]),
        shm_read(16, 0, 1000, 1, 0), shm_read(16, 0, 1000, 1, 1),
        shm_ctl(16, IPC_STAT), shm_ctl(0, SHM_STAT), shm_ctl(0, SHM_STAT_ANY),
        shm_ctl(0, IPC_INFO), shm_ctl(0, SHM_INFO), shm_ctl(16, IPC_SET, 1000, 1000, 0o600),
        shm_ctl(16, SHM_LOCK), shm_ctl(16, SHM_UNLOCK), shm_attach(16, SHM_RDONLY),
        shm_detach(16, 1), shm_ctl(16, IPC_RMID), shm_read(16, 0, 10),
        shm_detach(16, 0), shm_get(0x1234, 0, 0), shm_get(IPC_PRIVATE, 0o600, 16384),
        shm_get(IPC_PRIVATE, 0o600, 1))
    # Write notices (SHM_READ flag 2): pages changed since a generation, a
    # window of its own, an unaligned offset, the generation after the write.
    seeds["seed-write-notices"] = conn(
        ROOT | PIECE_16 << 2,
        shm_get(0x4e, IPC_CREAT | 0o600, 3 * 4096 - 10), shm_attach(16),
        shm_read(16, 0, 3 * 4096 - 10, 2, 0),
        shm_write(16, [(4095, pattern(2)), (2 * 4096 + 5, pattern(3))]),
        shm_read(16, 0, 3 * 4096 - 10, 2, 0), shm_read(16, 4096, 4096, 2, 0),
        shm_read(16, 100, 4096, 2, 0), shm_read(16, 0, 3 * 4096 - 10, 2, 1),
        shm_read(16, 0, 3 * 4096 - 10, 3, 0))
    seeds["seed-tcp-ident"] = conn(
        TCP, shm_get(0x77, IPC_CREAT | 0o600, 100), ident(4000, 1000, 1000),
        shm_get(0x77, IPC_CREAT | 0o600, 100), shm_attach(16), shm_write(16, [(0, b"tcp")]),
        ident(4001, 0, 0), shm_ctl(16, IPC_SET, 5, 5, 0o777), shm_ctl(16, IPC_RMID))
    # Permissions across connections: root's 0600 segment, kept attached and removed.
    seeds["seed-perms-across-conns"] = session(
        conn(ROOT, shm_get(0x99, IPC_CREAT | 0o600, 512), shm_attach(16),
             shm_get(0x98, IPC_CREAT | 0o660, 256), shm_ctl(17, IPC_SET, 0, 1000, 0o660),
             shm_ctl(16, IPC_RMID)),
        conn(USER, shm_get(0x99, 0, 0), shm_attach(16), shm_read(16, 0, 10),
             shm_write(16, [(0, b"no")]), shm_ctl(16, IPC_STAT), shm_ctl(16, IPC_RMID),
             shm_ctl(16, IPC_SET, 1000, 1000, 0o666), shm_get(0x98, 0o660, 0),
             shm_attach(17), shm_write(17, [(0, b"group")])),
        conn(MATE | CLOSE_OTHERS, shm_get(0x99, IPC_CREAT | 0o666, 100), shm_attach(17, SHM_RDONLY),
             shm_write(17, [(1, b"rdonly")]), shm_ctl(17, IPC_RMID)),
        conn(TCP, shm_ctl(0, SHM_STAT_ANY), shm_ctl(1, SHM_STAT), shm_read(17, 0, 1)))
    seeds["seed-attach-then-close"] = session(
        conn(USER, shm_get(IPC_PRIVATE, 0o600, 300), shm_attach(16), shm_attach(16, SHM_RDONLY),
             shm_ctl(16, IPC_RMID)),
        conn(USER | CLOSE_OTHERS, shm_ctl(0, SHM_INFO), shm_get(IPC_PRIVATE, 0o600, 300),
             shm_attach(32)))
    # --auth-file: a remote TCP peer must authenticate; a wrong proof hangs up.
    seeds["seed-auth-required"] = session(
        conn(TCP | MUST_AUTH, hello(1), ident(1, 0, 0, 2), auth_prove(rid=3), hello(4)),
        conn(TCP | MUST_AUTH, auth_challenge(b"fuzz", 1), shm_get(1, IPC_CREAT | 0o600, 10, 2),
             auth_challenge(b"x" * 64, 3), auth_prove(pattern(32), 4), hello(5)),
        conn(ROOT | MUST_AUTH, auth_challenge(b"fuzz", 1), auth_prove(rid=2), hello(3)),
        conn(TCP, auth_challenge(b"", 1), msg(AUTH, u32(AUTH_PROVE), 2), hello(3)))
    # Before authenticating, a body over 4096 bytes is refused at its header, and hung up on.
    seeds["seed-auth-required-large"] = session(
        conn(TCP | MUST_AUTH | PIECE_100 << 2, hello(1), proc_write(1, 0, 0, pattern(4081), 2), hello(3)),
        conn(TCP | MUST_AUTH, header(SHM_WRITE, 1, MAX_BODY + 1) + b"zz", hello(2)))
    # Framing.
    seeds["seed-too-large-then-hello"] = conn(
        ROOT, header(PROC_WRITE, 1, MAX_BODY + 1) + b"z" * 100, hello(2))
    seeds["seed-too-large-swallowed"] = conn(
        ROOT | PIECE_7 << 2, hello(1), header(SHM_WRITE, 2, MAX_BODY + 40) + pattern(5000), hello(3))
    seeds["seed-bad-magic"] = conn(ROOT, hello(1), header(HELLO, 2, 0, magic=0xD54E), hello(3))
    seeds["seed-bad-version"] = conn(TCP, hello(1), header(HELLO, 2, 0, version=9), hello(3))
    seeds["seed-unknown-opcodes"] = conn(
        ROOT, msg(0, b"", 1), msg(15, b"abc", 2), msg(255, b"x" * 20, 3), hello(4))
    seeds["seed-wrong-lengths"] = conn(
        ROOT, msg(HELLO, b"x", 1), msg(PROC_INIT, i32(1), 2), msg(PROC_READ, i32(1, 0, 0, 1, 9), 3),
        msg(PROC_WRITE, i32(1, 0, 0, 3) + b"ab", 4), msg(IDENT, b"\0" * 11, 5),
        msg(SHM_GET, b"\0" * 17, 6), msg(SHM_WRITE, i32(16) + u32(1) + u64(0) + u64(0, 3) + b"ab", 7),
        hello(8))
    seeds["seed-pipelined-past-budget"] = conn(
        USER | PIECE_4096 << 2, *([proc_init(1, 1)] + [proc_read(1, 0, i, 1, i) for i in range(150)]))
    seeds["seed-byte-by-byte"] = conn(
        ROOT | PIECE_1 << 2, hello(1), proc_init(5, 2), proc_write(5, 0, 10, b"hello"),
        proc_read(5, 0, 10, 5), shm_get(7, IPC_CREAT | 0o600, 10), header(HELLO, 9, MAX_BODY + 5) + b"zz",
        stats())
    # 300 reads of 16 KiB: the replies pass CONN_OUT_HIGH before the client reads them.
    seeds["seed-lazy-reader"] = conn(
        USER | LAZY, *([proc_init(1, 64)] + [proc_read(1, 0, 0, 16384, i) for i in range(300)]))
    seeds["seed-cut-off"] = conn(ROOT | PIECE_3 << 2, hello(1), proc_write(1, 0, 0, b"abc")[:-1])
    seeds["seed-big-read"] = conn(ROOT, proc_init(1, 64), proc_read(1, 0, 0, 16384),
                                  shm_get(IPC_PRIVATE, 0o600, 100), proc_read(1, 0, 0, 16 << 20))
    return seeds


def write(out, seeds):
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    write(os.path.join(out, "decode"), decode_seeds())
    write(os.path.join(out, "handler"), handler_seeds())


if __name__ == "__main__":
    main()
