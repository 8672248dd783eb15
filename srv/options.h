/*
 * options.h — dshmd's command line: what each option means, its default,
 * and the checks a value must pass (a bad one is a one-line error, exit 2).
 */
#ifndef DSHM_SRV_OPTIONS_H
#define DSHM_SRV_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* dshmd's exit codes (documented in --help and the README). */
enum exit_code {
	EXIT_CLEAN = 0,   /* stopped by SIGTERM/SIGINT, everything removed */
	EXIT_FAILED = 1,  /* start-up failed for another reason */
	EXIT_USAGE = 2,   /* bad command line */
	EXIT_IN_USE = 3,  /* another dshmd (or something else) holds the key, socket, port or pidfile */
	EXIT_NO_RESOURCES = 4, /* the kernel refused memory or a shared segment */
};

/* A connection stalled in the middle of a request, or not reading its replies, goes after this. */
#define CONN_STALL_SECONDS 30

struct options {
	char tcp[300];   /* HOST:PORT, or "" when TCP is off */
	char unix_path[108];
	uint64_t memory;
	uint32_t frame_size;
	uint32_t workers;
	key_t key;
	bool key_given;
	char pidfile[4096]; /* "" when none */
	int log_level;
	uint32_t max_processes;
	char persist[48]; /* --persist NAME, "" when none */
	uint32_t max_conns;            /* --max-connections: all workers together */
	uint32_t max_conns_per_worker; /* --max-connections-per-worker */
	uint32_t max_conns_per_user;   /* --max-connections-per-user (0: none) */
	uint32_t reserved_conns;       /* --reserved-connections */
	bool max_conns_per_user_set, reserved_conns_set;
	bool overcommit;               /* --overcommit: start with an arena the host may not back */
	uint32_t max_owners_per_user;  /* --max-processes-per-user (0: the default) */
	uint32_t max_attach_per_user;  /* --max-attachments-per-user (0: the default) */
	uint32_t idle_timeout;         /* --idle-timeout seconds, 0: never */
	char auth_file[4096];          /* --auth-file, "" when none */
	uint32_t max_data;             /* --max-data: the largest read or write */
	gid_t unix_gid;                /* --unix-group, (gid_t)-1: the user's */
	char peer_listen[300];         /* --peer-listen HOST:PORT: other hosts' pagers connect here ("" none) */
	char peer_auth[4096];          /* --peer-auth FILE: our credential at other homes ("" none) */
	int io;                        /* --io: IO_AUTO, or a WORKER_IO_* of worker.h */
	uint32_t busy_poll_us;         /* --busy-poll: microseconds to spin before sleeping */
	uint32_t worker_stall;         /* --worker-stall seconds: a silent worker is killed; 0: never */
};

/* How long a worker's request waits for a lock: a quarter of --worker-stall, at most 1 s. */
static inline uint32_t
options_lock_wait_ms(const struct options *o)
{
	return o->worker_stall == 0 || o->worker_stall >= 4 ? 1000 : o->worker_stall * 250;
}

#define IO_AUTO 0 /* io_uring where it works, else epoll */

/* Parses argv; exits (0 after --help/--version, 2 on a bad value). */
void options_parse(struct options *o, int argc, char **argv);

#endif /* DSHM_SRV_OPTIONS_H */
