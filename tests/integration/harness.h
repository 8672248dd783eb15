/*
 * harness.h — what the integration tests share: starting and stopping a
 * real dshmd, reading its log, finding its workers, bounded waits, forked
 * client processes and raw sockets that speak ipc/common/proto.h.
 *
 * Every dshmd runs in a scratch directory of its own (under
 * $DSHM_TEST_DIR, else a mkdtemp directory in /tmp) with its own Unix
 * socket, so its key (derived from the socket path) is unique too; it
 * listens on 127.0.0.1 only, in a process group of its own, with stderr
 * in a log file.  The harness signals only the processes it started, by
 * PID or by the process group it made; whatever a failed test leaves
 * running is killed, and its segment removed, when the test binary exits.
 * Waits are bounded: a condition is polled until it holds or time is up.
 */
#ifndef DSHM_TESTS_HARNESS_H
#define DSHM_TESTS_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "table.h"

#define HARNESS_READY_MS 10000 /* how long start-up may take */
#define HARNESS_STOP_MS 10000  /* how long a stop may take */
#define HARNESS_POLL_MS 10     /* the log is polled this often */

/* ---- time and bounded waits ------------------------------------------- */

int64_t harness_now_ms(void);
/* Pauses between two polls of a condition; never used as a wait on its own. */
void harness_nap_ms(int ms);

/*
 * Evaluates expr every 2 ms until it is true or timeout_ms have passed;
 * yields whether it came true.  expr is evaluated once more at the end.
 */
#define WAIT_UNTIL(expr, timeout_ms)                                          \
	({                                                                    \
		int64_t wait_deadline_ = harness_now_ms() + (timeout_ms);     \
		bool wait_ok_;                                                \
		while (!(wait_ok_ = (expr)) && harness_now_ms() < wait_deadline_) \
			harness_nap_ms(2);                                    \
		wait_ok_;                                                     \
	})

/* ---- a dshmd under test ------------------------------------------------- */

enum transport { TRANSPORT_UNIX, TRANSPORT_TCP };

struct server {
	pid_t pid;             /* the master, and the process group of all it forks; 0: none */
	bool exited;           /* the master has exited (it stays unreaped until server_destroy) */
	int status;            /* then: its exit status, or 128 + the signal that ended it */
	char dir[112];         /* this server's scratch directory */
	char log_path[128];
	char out_path[128];
	char unix_path[108];   /* the --unix path (ours unless the caller gave one) */
	char unix_addr[116];   /* "unix:PATH", for dshm_connect */
	char tcp_addr[64];     /* "127.0.0.1:PORT" from the ready line; "" when none */
	int port;
	key_t key;             /* from the ready line (before it: the key of the socket path) */
	int shmid;             /* from the ready line, -1 before */
	int workers;           /* from the ready line */
	struct table table;    /* the scoreboard, once server_attach succeeded */
	bool attached;
};

/*
 * Starts dshmd ($DSHMD) with the NULL-terminated extra arguments, and
 * waits (bounded) for its ready line, from which it takes the TCP address,
 * key, shmid and worker count.  Unless the extra arguments say otherwise,
 * dshmd gets --unix DIR/dshm.sock, --listen 127.0.0.1:0 and --workers 2;
 * the key is always dshmd's own choice unless --key is given.
 * Returns 0, or -1 (and prints the log) when dshmd did not get ready.
 */
int server_start(struct server *s, ...) __attribute__((sentinel));

/* Like server_start, but does not wait: for a dshmd expected to refuse. */
int server_spawn(struct server *s, ...) __attribute__((sentinel));
/*
 * A function every later spawn runs in dshmd's child right before the
 * exec (NULL: none), for a test that changes what dshmd may do (a
 * seccomp filter, say).  It _exits on failure.
 */
void server_set_exec_hook(void (*hook)(void));
int server_spawnv(struct server *s, const char *const *args);

/* Waits for the ready line of a spawned dshmd; false if it exited or timed out. */
bool server_wait_ready(struct server *s, int timeout_ms);

/*
 * Waits (bounded) for the master to exit.  Returns its exit status, 128 +
 * the signal when a signal ended it, or -1 when it was still running at
 * the deadline.
 */
int server_wait_exit(struct server *s, int timeout_ms);

/* SIGTERM, then server_wait_exit(HARNESS_STOP_MS).  Detaches the scoreboard first. */
int server_stop(struct server *s);

/* Sends sig to the master only. */
void server_kill(struct server *s, int sig);
/* Sends sig to the master and everything it forked (its process group). */
void server_kill_group(struct server *s, int sig);
/* Waits (bounded) until no process of the group runs any more (zombies aside). */
bool server_wait_group_gone(const struct server *s, int timeout_ms);

/*
 * Ends whatever is left of s (SIGKILL to its group), removes its stale
 * segment and its scratch directory.  Safe on a zeroed or already
 * destroyed server.
 */
void server_destroy(struct server *s);

/* The address of s on a transport, for dshm_connect. */
const char *server_addr(const struct server *s, enum transport t);

/* The whole log (malloc'd, NUL-terminated; "" if none); the caller frees it. */
char *server_log(const struct server *s);
char *server_stdout(const struct server *s);
bool server_log_has(const struct server *s, const char *needle);
bool server_wait_log(const struct server *s, const char *needle, int timeout_ms);
/* Writes the log to stderr, for a failing test's diagnosis. */
void server_print_log(const struct server *s);

/*
 * Lets every user reach s's Unix socket (for clients that drop to
 * nobody): the scratch directories are made 0711 and the socket 0666.
 */
void server_open_to_all(const struct server *s);

/* The master's live children (its workers); returns how many, at most max. */
int server_workers(const struct server *s, pid_t *pids, int max);

/* Attaches the control table read-only, for the scoreboard. */
bool server_attach(struct server *s);
void server_detach(struct server *s);
/* Sums of the scoreboard's counters over all workers. */
uint64_t server_bytes_in(const struct server *s);
uint64_t server_bytes_out(const struct server *s);
uint64_t server_requests(const struct server *s);

/* ---- processes and files ---------------------------------------------- */

/* Whether pid runs (a zombie does not count). */
bool pid_alive(pid_t pid);

/* /proc/PID/cmdline with NULs turned to spaces; false if unreadable. */
bool proc_cmdline(pid_t pid, char *out, size_t len);

/* Whether a System V segment exists at key. */
bool segment_exists(key_t key);

bool file_exists(const char *path);
/* Makes a fresh directory under the scratch directory (its path short enough for sun_path). */
bool scratch_dir(char *out, size_t len);
/* Removes a directory and everything in it. */
void remove_tree(const char *dir);
/* A whole file (malloc'd, NUL-terminated), or NULL. */
char *read_whole_file(const char *path);
/* How many times needle occurs in text. */
int count_occurrences(const char *text, const char *needle);

/*
 * Starts the program argv (argv[0] its path) with stdout and stderr in
 * out_path, the NAME=VALUE strings of env added to the environment
 * (NULL-terminated; NULL: none), in the network namespace netns (a
 * descriptor of /proc/PID/ns/net; -1: ours).  Returns its pid.
 */
pid_t spawn_program(const char *const *argv, const char *const *env, int netns,
		    const char *out_path);

/* Forks a child that runs fn(arg) and _exits with its result. */
pid_t fork_child(int (*fn)(void *), void *arg);
/* Waits (bounded) for a child: its exit status, 128 + signal, or -1 (then it is killed). */
int wait_child(pid_t pid, int timeout_ms);

/* Whether the servers may run the io_uring loop ($DSHM_TEST_IO is not epoll). */
bool uring_loop(void);

/* ---- segments ------------------------------------------------------------ */

/* shm_nattch of segment id as dshm_shmctl(IPC_STAT) gives it, or -1. */
long segment_nattch(int id);

/* ---- raw sockets ------------------------------------------------------- */

/* Connects to addr (as dshm_connect does) with 10 s send/receive timeouts; -1 on failure. */
int raw_connect(const char *addr);
bool raw_send(int fd, const void *data, size_t len);
bool raw_recv(int fd, void *data, size_t len);

/*
 * Encodes a request header (magic, version 1, status 0) with the given
 * opcode, id and body length, followed by nargs 32-bit arguments, into
 * out (PROTO_HEADER_LEN + 4 * nargs bytes).  Returns the bytes written.
 */
size_t raw_encode(unsigned char *out, uint8_t opcode, uint32_t id, uint32_t len,
		  const int32_t *args, int nargs);

/* Sends a well-formed request: header, arguments and data. */
bool raw_request(int fd, uint8_t opcode, uint32_t id, const int32_t *args, int nargs,
		 const void *data, uint32_t data_len);

/*
 * Receives one reply: its header, and its body into body (at most cap
 * bytes; a longer body fails).  *body_len gets the body's length.
 */
bool raw_reply(int fd, struct proto_header *h, void *body, size_t cap, size_t *body_len);

/* Whether the server closes fd (EOF or reset) within timeout_ms, reading nothing more. */
bool raw_wait_closed(int fd, int timeout_ms);

/* One HELLO on a connection of its own; false on any failure. */
bool raw_hello(const char *addr, struct proto_hello *hello);
/* One HELLO on fd (hello may be NULL): whether the server answered it. */
bool raw_hello_on(int fd, struct proto_hello *hello);

/* ---- cmocka fixtures ---------------------------------------------------- */

struct fixture {
	enum transport transport;
	struct server srv;
	const char *addr; /* srv's address on the transport, once started */
};

/* Points this process's segment calls (dshm_set_server) at f's server; false if it cannot. */
bool fixture_use_for_segments(const struct fixture *f);

/* Allocates a fixture and starts a default server (--workers 2). */
int fixture_setup_unix(void **state);
int fixture_setup_tcp(void **state);
/* Allocates a fixture only: the test starts the server with fixture_start. */
int fixture_prepare_unix(void **state);
int fixture_prepare_tcp(void **state);
int fixture_start(struct fixture *f, ...) __attribute__((sentinel));
/*
 * Stops the server if it still runs and fails when that stop was not a
 * clean exit 0, or when its log holds a sanitizer report; then frees all.
 */
int fixture_teardown(void **state);

/* One cmocka test, run once over each transport, each time with a fresh server. */
#define TEST_BOTH(f)                                                          \
	{#f "/unix", f, fixture_setup_unix, fixture_teardown, NULL},          \
	{#f "/tcp", f, fixture_setup_tcp, fixture_teardown, NULL}
/* The same, but the test starts the server itself (fixture_start). */
#define TEST_BOTH_BARE(f)                                                     \
	{#f "/unix", f, fixture_prepare_unix, fixture_teardown, NULL},        \
	{#f "/tcp", f, fixture_prepare_tcp, fixture_teardown, NULL}
/* Once, over the Unix socket (the test may use TCP too). */
#define TEST_ONE(f) {#f, f, fixture_setup_unix, fixture_teardown, NULL}
#define TEST_ONE_BARE(f) {#f, f, fixture_prepare_unix, fixture_teardown, NULL}

#endif /* DSHM_TESTS_HARNESS_H */
