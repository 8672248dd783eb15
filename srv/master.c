/*
 * master.c — dshmd's master: it creates the frame arena and the control
 * table, opens the listening sockets, forks the workers and keeps them
 * alive, and on SIGTERM/SIGINT stops them and removes everything it made.
 *
 * Start-up never disturbs another server: every check that could find
 * one (pidfile, Unix socket, key, TCP port) comes before anything is
 * created, and a failure removes only what this process created.  The
 * master handles signals synchronously (sigtimedwait): no handler runs
 * asynchronously, so no state is ever half-updated by one.
 *
 * A worker that stops answering (stopped, or stuck in a loop) may hold
 * locks that others wait for: the master watches the heartbeat each
 * worker stamps in its scoreboard row, and kills one silent past
 * --worker-stall; its death then frees its locks to their repair, and it
 * is respawned like any worker that died.
 */
#include "master.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <libutil.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "arena.h"
#include "auth.h"
#include "backing.h"
#include "listen.h"
#include "log.h"
#include "naming.h"
#include "owners.h"
#include "pager.h"
#include "peercred.h"
#include "persist.h"
#include "pidguard.h"
#include "segfile.h"
#include "proto.h"
#include "quota.h"
#include "table.h"
#include "worker.h"
#include "worker_loop.h"

#define STOP_KILL_MS 4500    /* workers still alive then are killed: the stop stays under 5 s */
#define READY_WAIT_MS 5000   /* how long start-up waits for the first workers */
#define RESPAWN_MAX_DELAY_MS 1000

struct worker_life {
	pid_t pid;
	int64_t started_ms;
	uint32_t quick_deaths; /* deaths within a second of starting, in a row */
	int64_t respawn_at_ms; /* 0: no respawn due */
	bool stall_killed;     /* killed for silence: not killed twice while it dies */
};

struct master {
	const struct options *o;
	struct table table;
	unsigned char *arena;
	size_t arena_size;
	size_t undo_size;
	int listen_fds[2]; /* TCP, Unix */
	char tcp_bound[300];
	bool table_made, unix_made;
	struct pidfh *pfh;
	struct persist_map pm; /* --persist: the arena and undo areas, named */
	bool keep_table;       /* --persist: the table outlives this process */
	struct worker_life *lives;
	sigset_t sigs;
	enum worker_io io; /* --io as resolved at start */
	int pager_fds[2];  /* the pager's Unix socket (PATH.pager) and --peer-listen's */
	char pager_path[120];
	bool pager_made;   /* pager_path is ours to remove */
	char peer_bound[300];
	uint32_t peer_port;
	pid_t pager_pid;
	int64_t pager_respawn_ms;
	unsigned pager_deaths;
	int64_t watched_ms; /* when kill_stalled last looked */
};

/*
 * The workers' event loop: io_uring where the kernel lets this process
 * make a ring with provided buffers (not disabled by
 * kernel.io_uring_disabled, a seccomp filter or an old kernel), else
 * epoll; --io uring where that fails is a start-up error.
 */
static bool
choose_io(struct master *m)
{
	char why[128] = "";

	if (m->o->io == WORKER_IO_EPOLL) {
		m->io = WORKER_IO_EPOLL;
		log_info("io: epoll (--io epoll)");
		return true;
	}
	if (loop_uring_available(why, sizeof(why))) {
		m->io = WORKER_IO_URING;
		log_info("io: io_uring");
		return true;
	}
	if (m->o->io == WORKER_IO_URING) {
		log_error("--io uring: io_uring is not available here: %s (kernel.io_uring_disabled, "
			  "a seccomp filter or the kernel's version); use --io epoll or auto", why);
		return false;
	}
	m->io = WORKER_IO_EPOLL;
	log_info("io: epoll (io_uring is not available: %s)", why);
	return true;
}

/* Removes what this master created, and only that. */
static void
teardown(struct master *m)
{
	for (int k = 0; k < 2; k++)
		if (m->listen_fds[k] >= 0) {
			close(m->listen_fds[k]);
			m->listen_fds[k] = -1;
		}
	if (m->unix_made) {
		unlink(m->o->unix_path);
		m->unix_made = false;
	}
	for (int k = 0; k < 2; k++)
		if (m->pager_fds[k] >= 0) {
			close(m->pager_fds[k]);
			m->pager_fds[k] = -1;
		}
	if (m->pager_made) {
		unlink(m->pager_path);
		m->pager_made = false;
	}
	if (m->table_made) {
		int shmid = m->table.shmid;
		uint64_t instance = m->table.hdr->instance;

		table_detach(&m->table);
		/* The segments' bytes go with the table, or stay with it. */
		if (!m->keep_table)
			segfile_remove(m->o->key, instance, false, false);
		if (m->keep_table)
			log_info("kept the control table (key 0x%08x, shmid %d) and /dev/shm/dshm-%s "
				 "for the next dshmd --persist %s", (unsigned)m->o->key, shmid,
				 m->o->persist, m->o->persist);
		else if (table_remove(shmid) < 0)
			log_error("shmctl(shmid %d, IPC_RMID): %s", shmid, strerror(errno));
		m->table_made = false;
	}
	if (m->pm.base != NULL) {
		/* The arena and the undo areas are views of the named object. */
		persist_unmap(&m->pm);
		m->table.undo = NULL;
		m->arena = NULL;
	}
	if (m->table.undo != NULL) {
		arena_unmap(m->table.undo, m->undo_size);
		m->table.undo = NULL;
	}
	if (m->arena != NULL) {
		arena_unmap(m->arena, m->arena_size);
		m->arena = NULL;
	}
	if (m->pfh != NULL) {
		pidfile_remove(m->pfh);
		m->pfh = NULL;
	}
}

/*
 * Segment files at our key with no table to name them: a dshmd that
 * died left them (its table is gone, or is being removed as stale).
 */
static void
remove_segment_files(key_t key)
{
	unsigned n = segfile_remove(key, 0, true, false);

	if (n > 0)
		log_warn("removed %u segment file%s of an earlier dshmd at key 0x%08x from /dev/shm",
			 n, n == 1 ? "" : "s", (unsigned)key);
}

/*
 * Deals with a segment already at our key; false when start-up must be
 * refused.  A table kept by --persist is left for the dshmd of its name
 * (*take_over), and refused to any other.
 */
static bool
clear_stale_table(const struct options *o, bool *take_over)
{
	struct table_probe p;
	char err[256] = "";

	*take_over = false;
	switch (table_probe(o->key, &p, err, sizeof(err))) {
	case TABLE_ABSENT:
		remove_segment_files(o->key);
		return true;
	case TABLE_STALE:
		if (p.persist[0] != '\0') {
			if (strcmp(p.persist, o->persist) == 0)
				return *take_over = true;
			log_error("the control table at key 0x%08x (shmid %d) was kept by dshmd "
				  "--persist %s: start with --persist %s to serve its data, or remove it "
				  "(dshm-ipcrm --stale --persist %s)", (unsigned)o->key, p.shmid,
				  p.persist, p.persist, p.persist);
			return false;
		}
		log_warn("removing the stale control table at key 0x%08x (shmid %d, made by pid %d, "
			 "nobody attached): an earlier dshmd did not stop cleanly",
			 (unsigned)o->key, p.shmid, (int)p.creator_pid);
		if (table_remove(p.shmid) < 0) {
			log_error("shmctl(shmid %d, IPC_RMID): %s", p.shmid, strerror(errno));
			return false;
		}
		remove_segment_files(o->key);
		return true;
	case TABLE_IN_USE:
		log_error("the control table at key 0x%08x (shmid %d, made by pid %d) is attached by "
			  "%lu process(es), last pid %d: another dshmd or its workers still run. Stop "
			  "them, or use another --key or --unix; once they are gone, dshmd removes the "
			  "table itself (or: ipcrm -m %d)",
			  (unsigned)o->key, p.shmid, (int)p.creator_pid, p.nattch, (int)p.last_pid,
			  p.shmid);
		return false;
	case TABLE_FOREIGN:
		log_error("key 0x%08x holds System V segment %d, which is not a dshm table of this "
			  "user: choose another --key", (unsigned)o->key, p.shmid);
		return false;
	case TABLE_ERROR:
		log_error("%s", err);
		return false;
	}
	return false;
}

/* The arena, the undo areas and the table, all gone when this process stops. */
static int
start_anonymous(struct master *m, const struct table_params *tp)
{
	char err[512];

	if ((m->arena = arena_map(m->arena_size)) == NULL) {
		log_error("mmap(MAP_SHARED|MAP_ANONYMOUS, %zu bytes): %s (the arena; lower --memory, "
			  "or check vm.max_map_count and memory limits)", m->arena_size, strerror(errno));
		return EXIT_NO_RESOURCES;
	}
	if (table_create(&m->table, tp, m->arena, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_NO_RESOURCES;
	}
	m->table_made = true;
	if ((m->table.undo = arena_map(m->undo_size)) == NULL) {
		log_error("mmap(MAP_SHARED|MAP_ANONYMOUS, %zu bytes): %s (the workers' undo areas)",
			  m->undo_size, strerror(errno));
		return EXIT_NO_RESOURCES;
	}
	return EXIT_CLEAN;
}

/*
 * An arena the host cannot back would fail in the middle of serving
 * (SIGBUS in a worker, or the OOM killer) after dshmd promised its frames:
 * refused now, with both numbers, unless --overcommit says the operator
 * knows (frames are still backed as they are given, and a request the
 * host cannot back then gets NO_SPACE).
 */
static bool
arena_can_be_backed(const struct options *o, size_t size)
{
	char why[600], file[96], have[16], want[16];
	uint64_t limit;

	snprintf(file, sizeof(file), "/dev/shm/dshm-%s", o->persist);
	limit = backing_limit(o->persist[0] ? "/dev/shm" : NULL, o->persist[0] ? file : NULL, why,
			      sizeof(why));
	/* A --persist file holds the workers' undo areas beside the arena. */
	const char *what = o->persist[0] ? "--memory and the undo areas of --workers" : "--memory";

	if (size <= limit)
		return true;
	/* 6 bytes: autoscaling picks the smallest unit that fits, so "24G", not "25276166K". */
	humanize_number(want, 6, (int64_t)size, "", HN_AUTOSCALE, HN_B | HN_NOSPACE | HN_DECIMAL);
	humanize_number(have, 6, (int64_t)limit, "", HN_AUTOSCALE, HN_B | HN_NOSPACE | HN_DECIMAL);
	if (o->overcommit) {
		log_warn("%s %s (%zu bytes) is more than this host can back, %s (%" PRIu64
			 " bytes: %s); --overcommit: starting anyway, and a request for frames "
			 "the host cannot back will get NO_SPACE",
			 what, want, size, have, limit, why);
		return true;
	}
	log_error("%s %s (%zu bytes) is more than this host can back, %s (%" PRIu64
		  " bytes: %s): the arena would fail in the middle of serving. Give a smaller "
		  "--memory, or --overcommit to start anyway",
		  what, want, size, have, limit, why);
	return false;
}

/*
 * --persist: the arena and undo areas in /dev/shm/dshm-NAME, and the
 * table kept at the key, both taken over when a previous dshmd left them.
 */
static int
start_persisted(struct master *m, const struct table_params *tp, bool take_over)
{
	const struct options *o = m->o;
	char err[512];

	if (persist_open(o->persist, m->arena_size + m->undo_size, o->overcommit, &m->pm, err,
			 sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_NO_RESOURCES;
	}
	m->arena = m->pm.base;
	if (take_over == m->pm.fresh) {
		/* One without the other: its data cannot be served, and must not be lost. */
		if (m->pm.fresh) {
			persist_unmap(&m->pm);
			persist_unlink(o->persist);
			log_error("the control table at key 0x%08x was kept by --persist %s, but "
				  "/dev/shm/dshm-%s is gone: its data is lost; remove the table "
				  "(dshm-ipcrm --stale --persist %s) to start afresh",
				  (unsigned)o->key, o->persist, o->persist, o->persist);
		} else
			log_error("/dev/shm/dshm-%s exists but no control table is at key 0x%08x: it "
				  "was kept with another --unix or --key (start with those), or its "
				  "table was removed (then remove it: dshm-ipcrm --stale --persist %s)",
				  o->persist, (unsigned)o->key, o->persist);
		m->arena = NULL;
		return EXIT_IN_USE;
	}
	if (!take_over) {
		if (table_create(&m->table, tp, m->arena, err, sizeof(err)) < 0) {
			log_error("%s", err);
			persist_unmap(&m->pm);
			persist_unlink(o->persist);
			m->arena = NULL;
			return EXIT_NO_RESOURCES;
		}
		m->table_made = m->keep_table = true;
		m->table.undo = m->arena + m->arena_size;
		log_info("persist: made /dev/shm/dshm-%s (%zu bytes reserved) and a table kept "
			 "across restarts", o->persist, m->pm.size);
		return EXIT_CLEAN;
	}
	if (table_attach(&m->table, o->key, false, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_FAILED;
	}
	m->table_made = m->keep_table = true;
	m->table.arena = m->arena;
	m->table.undo = m->arena + m->arena_size;
	m->table.undo_each = OWNERS_UNDO_EACH;
	if (persist_take_over(&m->table, o, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_FAILED;
	}
	snprintf(m->table.hdr->unix_path, sizeof(m->table.hdr->unix_path), "%s",
		 tp->unix_path != NULL ? tp->unix_path : "");
	snprintf(m->table.hdr->pidfile, sizeof(m->table.hdr->pidfile), "%s",
		 tp->pidfile != NULL ? tp->pidfile : "");
	log_info("persist: took over the table at key 0x%08x (shmid %d) and /dev/shm/dshm-%s: "
		 "%u owners, %llu frames in use", (unsigned)o->key, m->table.shmid, o->persist,
		 m->table.hdr->owners_used,
		 (unsigned long long)(m->table.hdr->nframes - m->table.hdr->frames_free));
	return EXIT_CLEAN;
}

/*
 * Each worker may hold --max-connections-per-worker sockets and a few of
 * its own: the soft descriptor limit is raised to that (up to the hard
 * limit; short of it, accept's EMFILE is handled, and the log says so).
 */
static void
raise_fd_limit(const struct options *o)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)o->max_conns_per_worker + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		log_warn("RLIMIT_NOFILE is %llu, below the %llu descriptors that "
			 "--max-connections-per-worker %u needs: raise the hard limit (ulimit -Hn)",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)want,
			 o->max_conns_per_worker);
}

/* Everything before the workers.  Returns an exit code, EXIT_CLEAN when all went well. */
static int
start(struct master *m)
{
	const struct options *o = m->o;
	struct table_params tp;
	char err[512], unix_abs[PATH_MAX + 2], pid_abs[PATH_MAX + 2];
	bool take_over;
	pid_t other;
	int rc;

	raise_fd_limit(o);
	if (o->pidfile[0] != '\0') {
		int guard = pidfile_guard(o->pidfile, err, sizeof(err));

		if (guard < 0) {
			log_error("%s", err);
			return EXIT_FAILED;
		}
		m->pfh = pidfile_open(o->pidfile, 0644, &other);
		if (m->pfh != NULL && !same_file(guard, pidfile_fileno(m->pfh))) {
			log_error("pidfile %s was replaced while it was opened: not writing to it",
				  o->pidfile);
			pidfile_close(m->pfh);
			m->pfh = NULL;
			close(guard);
			return EXIT_FAILED;
		}
		close(guard);
		if (m->pfh == NULL) {
			if (errno == EEXIST) {
				log_error("pidfile %s is held by a running dshmd (pid %d)", o->pidfile,
					  (int)other);
				return EXIT_IN_USE;
			}
			log_error("pidfile_open(%s): %s", o->pidfile, strerror(errno));
			return EXIT_FAILED;
		}
	}
	/* A default socket's directory is ours alone, or nothing starts. */
	if (!naming_private_dir(o->unix_path, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_IN_USE;
	}
	switch (sockprobe_unix(o->unix_path)) {
	case UNIX_LIVE:
		log_error("a server already answers on %s: not starting a second one there",
			  o->unix_path);
		return EXIT_IN_USE;
	case UNIX_NOT_SOCKET:
		log_error("%s exists and is not a socket: choose another --unix", o->unix_path);
		return EXIT_IN_USE;
	default:
		break;
	}
	if (!clear_stale_table(o, &take_over))
		return EXIT_IN_USE;
	if (o->auth_file[0] != '\0' && auth_load(o->auth_file, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (o->tcp[0] != '\0') {
		m->listen_fds[0] = listen_tcp(o->tcp, m->tcp_bound, sizeof(m->tcp_bound), err,
					      sizeof(err));
		if (m->listen_fds[0] < 0) {
			log_error("%s", err);
			return errno == EADDRINUSE ? EXIT_IN_USE : EXIT_FAILED;
		}
		/* Beyond loopback nobody is identified by the kernel: they must prove who they are. */
		if (!auth_enabled() && !peercred_bound_to_loopback(m->listen_fds[0])) {
			log_error("--listen %s is not a loopback address: give --auth-file so that "
				  "clients on other hosts must authenticate (see docs/SECURITY.md)",
				  o->tcp);
			return EXIT_USAGE;
		}
	}

	m->arena_size = (size_t)(o->memory / o->frame_size) * o->frame_size;
	/* Each worker's write-undo area: untouched pages cost nothing (MAP_NORESERVE). */
	m->undo_size = (size_t)o->workers * OWNERS_UNDO_EACH;
	/* A --persist arena's file holds the undo areas too, and is reserved whole. */
	if (!arena_can_be_backed(o, m->arena_size + (o->persist[0] ? m->undo_size : 0)))
		return EXIT_FAILED;
	tp = (struct table_params){
		.key = o->key,
		.frame_size = o->frame_size,
		.nframes = o->memory / o->frame_size,
		.max_owners = o->max_processes,
		.nworkers = o->workers,
		.unix_path = naming_canonical_path(o->unix_path, unix_abs, sizeof(unix_abs)),
		.pidfile = o->pidfile[0] ? naming_canonical_path(o->pidfile, pid_abs, sizeof(pid_abs))
					 : NULL,
		.persist = o->persist[0] ? o->persist : NULL,
	};
	if (o->persist[0] != '\0')
		rc = start_persisted(m, &tp, take_over);
	else
		rc = start_anonymous(m, &tp);
	if (rc != EXIT_CLEAN)
		return rc;
	m->table.undo_each = OWNERS_UNDO_EACH;
	quota_set(&m->table, &(struct quota_params){(uint32_t)geteuid(), m->o->max_owners_per_user,
						    m->o->max_attach_per_user});

	m->listen_fds[1] = listen_unix(o->unix_path, o->unix_gid, err, sizeof(err));
	if (m->listen_fds[1] < 0) {
		log_error("%s", err);
		return EXIT_IN_USE;
	}
	m->unix_made = true;
	/*
	 * The pager runs when segments are shared across hosts (--peer-listen:
	 * as their home; --peer-auth: as a host of others'); its socket is
	 * beside the server's: this host's processes hand it their mappings.
	 */
	snprintf(m->pager_path, sizeof(m->pager_path), "%s.pager", o->unix_path);
	if (o->peer_listen[0] == '\0' && o->peer_auth[0] == '\0')
		; /* no other host: no pager */
	else if (strlen(o->unix_path) + 6 >= 108 ||
	    (m->pager_fds[0] = listen_unix(m->pager_path, o->unix_gid, err, sizeof(err))) < 0) {
		log_warn("the pager's socket %s: %s; segments will not be shared with other hosts",
			 m->pager_path, strlen(o->unix_path) + 6 >= 108 ? "path too long" : err);
		m->pager_fds[0] = -1;
	} else
		m->pager_made = true;
	if (o->peer_listen[0] != '\0') {
		m->pager_fds[1] = listen_tcp(o->peer_listen, m->peer_bound, sizeof(m->peer_bound), err,
					     sizeof(err));
		if (m->pager_fds[1] < 0) {
			log_error("--peer-listen: %s", err);
			return errno == EADDRINUSE ? EXIT_IN_USE : EXIT_FAILED;
		}
		{
			char host[256], port[16];

			if (naming_split_hostport(m->peer_bound, host, sizeof(host), port, sizeof(port)))
				m->peer_port = (uint32_t)strtoul(port, NULL, 10);
		}
		if (!auth_enabled() && !peercred_bound_to_loopback(m->pager_fds[1])) {
			log_error("--peer-listen %s is not a loopback address: give --auth-file so that "
				  "other hosts must authenticate", o->peer_listen);
			return EXIT_USAGE;
		}
	}
	if (m->pfh != NULL && pidfile_write(m->pfh) < 0)
		log_warn("pidfile_write(%s): %s", o->pidfile, strerror(errno));
	return EXIT_CLEAN;
}

static void
spawn(struct master *m, int index)
{
	struct worker_life *l = &m->lives[index - 1];
	/* Taken before the fork: a child asking getppid() could get the reaper's pid. */
	pid_t master = getpid();
	pid_t pid;

	/* The dead one's last beat is not the new one's: it beats before it is watched. */
	atomic_store(&m->table.workers[index - 1].heartbeat_ms, 0);
	pid = fork();

	if (pid < 0) {
		log_error("fork (worker %d): %s; trying again in %d ms", index, strerror(errno),
			  RESPAWN_MAX_DELAY_MS);
		l->respawn_at_ms = clock_now_ms() + RESPAWN_MAX_DELAY_MS;
		return;
	}
	if (pid == 0) {
		struct worker_args a = {
			.table = &m->table,
			.index = index,
			.listen_fds = {m->listen_fds[0], m->listen_fds[1]},
			.master = master,
			.max_conns = m->o->max_conns,
			.max_conns_per_worker = m->o->max_conns_per_worker,
			.max_conns_per_user = m->o->max_conns_per_user,
			.reserved_conns = m->o->reserved_conns,
			.idle_timeout = m->o->idle_timeout,
			.max_data = m->o->max_data,
			.io = m->io,
			.busy_poll_us = m->o->busy_poll_us,
			.peer_port = m->peer_port,
			.lock_wait_ms = options_lock_wait_ms(m->o),
		};
		sigset_t keep;

		for (int k = 0; k < 2; k++)
			if (m->pager_fds[k] >= 0)
				close(m->pager_fds[k]); /* the pager's, not a worker's */
		/* SIGTERM and SIGINT stay blocked: the worker reads them from a signalfd. */
		sigemptyset(&keep);
		sigaddset(&keep, SIGCHLD);
		sigaddset(&keep, SIGHUP);
		sigprocmask(SIG_UNBLOCK, &keep, NULL);
		worker_run(&a);
	}
	l->pid = pid;
	l->started_ms = clock_now_ms();
	l->respawn_at_ms = 0;
	l->stall_killed = false;
	atomic_store(&m->table.workers[index - 1].pid, (int32_t)pid);
	log_debug("worker %d started (pid %d)", index, (int)pid);
}

/* The pager: forked like a worker, with the table, its sockets, and nothing of the workers'. */
static void
spawn_pager(struct master *m)
{
	pid_t master = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		log_error("fork (pager): %s; trying again in %d ms", strerror(errno), RESPAWN_MAX_DELAY_MS);
		m->pager_respawn_ms = clock_now_ms() + RESPAWN_MAX_DELAY_MS;
		return;
	}
	if (pid == 0) {
		struct pager_args a = {
			.table = &m->table,
			.unix_fd = m->pager_fds[0],
			.peer_fd = m->pager_fds[1],
			.master = master,
			.peer_auth = m->o->peer_auth,
		};

		for (int k = 0; k < 2; k++)
			if (m->listen_fds[k] >= 0)
				close(m->listen_fds[k]);
		pager_run(&a);
	}
	m->pager_pid = pid;
	m->pager_respawn_ms = 0;
	log_debug("pager started (pid %d)", (int)pid);
}

static void
describe_status(int status, char *out, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(out, len, "was killed by signal %d (%s)%s", WTERMSIG(status),
			 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
}

/* Collects dead workers; while serving, schedules their respawn with a back-off. */
static int
reap(struct master *m, bool stopping)
{
	int status, alive = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->pager_pid) {
			char how[128];

			m->pager_pid = 0;
			describe_status(status, how, sizeof(how));
			if (!stopping) {
				/* Its processes' faults wait for it: back at once, then within a second. */
				m->pager_deaths++;
				m->pager_respawn_ms = clock_now_ms() + (m->pager_deaths > 1 ? 1000 : 0);
				log_error("the pager (pid %d) %s; respawning it", (int)pid, how);
			}
			continue;
		}
		for (uint32_t i = 0; i < m->o->workers; i++) {
			struct worker_life *l = &m->lives[i];
			struct worker_slot *ws = &m->table.workers[i];
			char how[128];

			if (l->pid != pid)
				continue;
			l->pid = 0;
			atomic_store(&ws->pid, 0);
			atomic_store(&ws->state, WORKER_EMPTY);
			atomic_store(&ws->conns_now, 0);
			describe_status(status, how, sizeof(how));
			if (stopping) {
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
					log_warn("worker %u (pid %d) %s while stopping", i + 1, (int)pid, how);
				break;
			}
			int64_t now = clock_now_ms();
			l->quick_deaths = now - l->started_ms < 1000 ? l->quick_deaths + 1 : 1;
			int64_t delay = 0;
			if (l->quick_deaths > 1) {
				delay = (int64_t)50 << (l->quick_deaths - 2 < 5 ? l->quick_deaths - 2 : 5);
				if (delay > RESPAWN_MAX_DELAY_MS)
					delay = RESPAWN_MAX_DELAY_MS;
			}
			l->respawn_at_ms = now + delay;
			atomic_fetch_add(&ws->respawns, 1);
			if (delay > 0)
				log_error("worker %u (pid %d) %s; it died %u times in a row within a second "
					  "of starting, so it is respawned in %lld ms",
					  i + 1, (int)pid, how, l->quick_deaths, (long long)delay);
			else
				log_error("worker %u (pid %d) %s; respawning it", i + 1, (int)pid, how);
			break;
		}
	}
	for (uint32_t i = 0; i < m->o->workers; i++)
		alive += m->lives[i].pid > 0;
	return alive;
}

/*
 * Kills each serving (or stopping) worker whose loop has not turned for
 * --worker-stall seconds: stopped by a signal or a debugger, or stuck.
 * Whatever locks it held become owner-dead, and the next taker repairs
 * what it left half-done; reap() then respawns it.
 */
static void
kill_stalled(struct master *m)
{
	int64_t now = clock_now_ms(), bound = (int64_t)m->o->worker_stall * 1000;
	int64_t away = now - m->watched_ms;

	m->watched_ms = now;
	/*
	 * The master was stopped itself (its whole process group, say): the
	 * workers' silence is its own, and they get a bound's time to beat.
	 */
	if (bound == 0 || away > bound / 2 + 1000)
		return;
	for (uint32_t i = 0; i < m->o->workers; i++) {
		struct worker_life *l = &m->lives[i];
		struct worker_slot *ws = &m->table.workers[i];
		uint32_t state = atomic_load(&ws->state);
		int64_t beat = atomic_load(&ws->heartbeat_ms);

		if (l->pid <= 0 || l->stall_killed || beat == 0 || now - beat <= bound ||
		    (state != WORKER_SERVING && state != WORKER_STOPPING))
			continue;
		log_warn("worker %u (pid %d) stopped answering for %lld s; killing it", i + 1,
			 (int)l->pid, (long long)(now - beat) / 1000);
		if (kill(l->pid, SIGKILL) < 0)
			log_error("kill(worker %u, pid %d, SIGKILL): %s", i + 1, (int)l->pid,
				  strerror(errno));
		else
			l->stall_killed = true;
	}
}

/* How long the master may sleep: it looks at the heartbeats a few times per --worker-stall. */
static int64_t
watch_interval_ms(const struct master *m)
{
	int64_t quarter = (int64_t)m->o->worker_stall * 250;

	return quarter > 0 && quarter < 1000 ? quarter : 1000;
}

static void
wait_until_serving(struct master *m)
{
	int64_t deadline = clock_now_ms() + READY_WAIT_MS;

	for (;;) {
		uint32_t serving = 0;

		for (uint32_t i = 0; i < m->o->workers; i++)
			serving += atomic_load(&m->table.workers[i].state) == WORKER_SERVING;
		if (serving == m->o->workers || clock_now_ms() >= deadline)
			return;
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void
stop_workers(struct master *m)
{
	int64_t deadline = clock_now_ms() + STOP_KILL_MS;

	for (uint32_t i = 0; i < m->o->workers; i++)
		if (m->lives[i].pid > 0)
			kill(m->lives[i].pid, SIGTERM);
	if (m->pager_pid > 0)
		kill(m->pager_pid, SIGTERM);
	while (reap(m, true) > 0 || m->pager_pid > 0) {
		int64_t left = deadline - clock_now_ms();

		if (left <= 0) {
			for (uint32_t i = 0; i < m->o->workers; i++)
				if (m->lives[i].pid > 0) {
					log_warn("worker %u (pid %d) did not stop in time: killing it", i + 1,
						 (int)m->lives[i].pid);
					kill(m->lives[i].pid, SIGKILL);
					waitpid(m->lives[i].pid, NULL, 0);
					m->lives[i].pid = 0;
				}
			if (m->pager_pid > 0) {
				kill(m->pager_pid, SIGKILL);
				waitpid(m->pager_pid, NULL, 0);
				m->pager_pid = 0;
			}
			break;
		}
		sigset_t chld;
		struct timespec ts = {0, (left > 50 ? 50 : left) * 1000000};

		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigtimedwait(&chld, NULL, &ts);
	}
}

static void
log_ready(struct master *m)
{
	const struct options *o = m->o;

	log_info("ready: key 0x%08x shmid %d unix %s tcp %s workers %u frames %llu x %u bytes "
		 "(arena %zu bytes, table %llu bytes)",
		 (unsigned)o->key, m->table.shmid, o->unix_path,
		 o->tcp[0] ? m->tcp_bound : "none", o->workers,
		 (unsigned long long)m->table.hdr->nframes, o->frame_size, m->arena_size,
		 (unsigned long long)m->table.hdr->table_size);
	if (m->pager_fds[0] >= 0)
		log_info("pager: %s%s%s", m->pager_path, m->pager_fds[1] >= 0 ? ", peers at " : "",
			 m->pager_fds[1] >= 0 ? m->peer_bound : "");
	sd_notify(0, "READY=1");
}

int
master_run(const struct options *o)
{
	struct master m = {.o = o, .listen_fds = {-1, -1}, .pager_fds = {-1, -1}};
	siginfo_t si;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&m.sigs);
	sigaddset(&m.sigs, SIGTERM);
	sigaddset(&m.sigs, SIGINT);
	sigaddset(&m.sigs, SIGCHLD);
	sigaddset(&m.sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &m.sigs, NULL);
	setproctitle("master");
	log_info("dshmd %s starting: key 0x%08x, unix %s, tcp %s, %llu bytes in frames of %u",
		 DSHM_VERSION, (unsigned)o->key, o->unix_path, o->tcp[0] ? o->tcp : "none",
		 (unsigned long long)(o->memory / o->frame_size * o->frame_size), o->frame_size);

	if (!choose_io(&m))
		return EXIT_FAILED;
	if ((rc = start(&m)) != EXIT_CLEAN) {
		teardown(&m);
		return rc;
	}
	if ((m.lives = calloc(o->workers, sizeof(*m.lives))) == NULL) {
		log_error("calloc: %s", strerror(errno));
		teardown(&m);
		return EXIT_FAILED;
	}
	for (uint32_t i = 0; i < o->workers; i++)
		spawn(&m, (int)i + 1);
	if (m.pager_fds[0] >= 0)
		spawn_pager(&m);
	wait_until_serving(&m);
	log_ready(&m);

	for (;;) {
		int64_t now = clock_now_ms(), next = now + watch_interval_ms(&m);
		struct timespec ts;
		int sig;

		for (uint32_t i = 0; i < o->workers; i++)
			if (m.lives[i].pid == 0 && m.lives[i].respawn_at_ms > 0 &&
			    m.lives[i].respawn_at_ms < next)
				next = m.lives[i].respawn_at_ms;
		next = next > now ? next - now : 0;
		ts.tv_sec = next / 1000;
		ts.tv_nsec = (next % 1000) * 1000000;
		sig = sigtimedwait(&m.sigs, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
		reap(&m, false);
		kill_stalled(&m);
		now = clock_now_ms();
		for (uint32_t i = 0; i < o->workers; i++)
			if (m.lives[i].pid == 0 && m.lives[i].respawn_at_ms > 0 &&
			    m.lives[i].respawn_at_ms <= now)
				spawn(&m, (int)i + 1);
		if (m.pager_pid == 0 && m.pager_respawn_ms > 0 && m.pager_respawn_ms <= now)
			spawn_pager(&m);
	}

	sd_notify(0, "STOPPING=1");
	/* Stop accepting at once: new clients are refused while workers finish. */
	for (int k = 0; k < 2; k++)
		if (m.listen_fds[k] >= 0) {
			close(m.listen_fds[k]);
			m.listen_fds[k] = -1;
		}
	if (m.unix_made) {
		unlink(o->unix_path);
		m.unix_made = false;
	}
	stop_workers(&m);
	teardown(&m);
	free(m.lives);
	log_info("stopped");
	return EXIT_CLEAN;
}
