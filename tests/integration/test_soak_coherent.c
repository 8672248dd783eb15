/*
 * test_soak_coherent.c — kill -9 soaks of coherent attachments, the
 * memory dshm-run gives unmodified programs: client processes keep
 * incrementing one atomic counter of a segment, detaching and attaching
 * it again between bursts, while the test SIGKILLs dshmd's workers; then
 * the same while the whole server, under --persist, is killed and
 * started again.
 *
 * The counter ends at the exact sum of the increments the clients made
 * (a coherent attachment is the segment's own memory: no store waits on
 * the server, none is lost with it); every attachment is gone when the
 * clients are, and the control table passes the invariant check.
 *
 * Bounded: KILLS worker kills, SERVER_KILLS server kills, and every
 * wait.  Assumes root: it signals the server's workers and attaches its
 * control table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "check.h"
#include "dshm.h"
#include "harness.h"

#define KILLS 40
#define SERVER_KILLS 5
#define CLIENTS 3
#define BURST 1000
#define RETRY_MS 25000 /* a call may find the server gone: it is tried again that long */

struct shared {
	_Atomic int stop;
	_Atomic uint64_t added[CLIENTS];  /* increments made, each counted once it is done */
	_Atomic uint64_t cycles[CLIENTS]; /* attach, burst, detach */
};

struct client_arg {
	const char *addr;
	key_t key;
	int c;
	struct shared *sh;
};

/* shmat, tried again while the server cannot be reached (EIO): a worker or the server died. */
static uint64_t *
attach(int id)
{
	int64_t deadline = harness_now_ms() + RETRY_MS;
	void *p;

	while ((p = dshm_shmat(id, NULL, DSHM_SHM_COHERENT)) == (void *)-1 && errno == EIO &&
	       harness_now_ms() < deadline)
		harness_nap_ms(20);
	return p == (void *)-1 ? NULL : p;
}

static int
client(void *p)
{
	struct client_arg *a = p;
	int64_t deadline = harness_now_ms() + RETRY_MS;
	uint64_t added = 0, cycles = 0, *counter;
	int id;

	if (dshm_set_server(a->addr) != 0)
		return 10;
	while ((id = dshm_shmget(a->key, 0, 0)) < 0 && errno == EIO && harness_now_ms() < deadline)
		harness_nap_ms(20);
	if (id < 0)
		return 11;
	while (!atomic_load(&a->sh->stop)) {
		if ((counter = attach(id)) == NULL)
			return 12;
		for (int i = 0; i < BURST; i++)
			__atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
		added += BURST;
		atomic_store(&a->sh->added[a->c], added);
		/* Gone from this process whatever the server says: it may be down. */
		dshm_shmdt(counter);
		atomic_store(&a->sh->cycles[a->c], ++cycles);
	}
	return 0;
}

static uint64_t
total(_Atomic uint64_t *v)
{
	uint64_t n = 0;

	for (int c = 0; c < CLIENTS; c++)
		n += atomic_load(&v[c]);
	return n;
}

static void
report(void *ctx, const char *msg)
{
	(void)ctx;
	print_error("invariant: %s\n", msg);
}

struct run {
	struct shared *sh;
	struct client_arg args[CLIENTS];
	pid_t kids[CLIENTS];
	key_t key;
	int id;
};

/* Makes the segment on f's server and starts the clients on it. */
static void
start_clients(struct fixture *f, struct run *r)
{
	r->sh = mmap(NULL, sizeof(*r->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(r->sh != MAP_FAILED);
	memset(r->sh, 0, sizeof(*r->sh));
	r->key = (key_t)(0x5c000000u | ((uint32_t)getpid() & 0xffffu) << 4);
	assert_true(fixture_use_for_segments(f));
	assert_true((r->id = dshm_shmget(r->key, 4096, IPC_CREAT | IPC_EXCL | 0600)) >= 0);
	for (int c = 0; c < CLIENTS; c++) {
		r->args[c] = (struct client_arg){f->addr, r->key, c, r->sh};
		r->kids[c] = fork_child(client, &r->args[c]);
	}
}

/* Stops the clients, then checks the counter, the attachments and the segment's removal. */
static void
finish_clients(struct fixture *f, struct run *r, const char *what, int kills)
{
	uint64_t *counter;

	atomic_store(&r->sh->stop, 1);
	for (int c = 0; c < CLIENTS; c++)
		assert_int_equal(wait_child(r->kids[c], 60000), 0);
	assert_true(fixture_use_for_segments(f));
	/* The clients' last detaches, or their connections' ends, reach the server. */
	assert_true(WAIT_UNTIL(segment_nattch(r->id) == 0, HARNESS_STOP_MS));
	assert_non_null(counter = dshm_shmat(r->id, NULL, DSHM_SHM_COHERENT));
	assert_true(counter != (void *)-1);
	print_message("soak: %d %s survived, %llu attach-burst-detach cycles, counter %llu\n", kills,
		      what, (unsigned long long)total(r->sh->cycles), (unsigned long long)*counter);
	assert_int_equal(*counter, total(r->sh->added));
	assert_int_equal(dshm_shmdt(counter), 0);
	assert_int_equal(dshm_shmctl(r->id, IPC_RMID, NULL), 0);
	munmap(r->sh, sizeof(*r->sh));
}

static void
test_worker_kills_lose_no_store_of_coherent_attachments(void **state)
{
	struct fixture *f = *state;
	int64_t deadline = harness_now_ms() + 120000;
	pid_t workers[4];
	struct run r;
	int kills = 0;

	assert_int_equal(fixture_start(f, "--workers", "2", "--memory", "1M", NULL), 0);
	assert_true(server_attach(&f->srv));
	start_clients(f, &r);
	while (kills < KILLS && harness_now_ms() < deadline) {
		uint64_t before = total(r.sh->cycles);
		int n = server_workers(&f->srv, workers, 4);

		if (n < 1) {
			harness_nap_ms(5);
			continue;
		}
		/* Kill one once the clients have attached and detached since the last kill. */
		if (!WAIT_UNTIL(total(r.sh->cycles) > before + 5, 10000))
			break;
		kill(workers[kills % n], SIGKILL);
		kills++;
	}
	finish_clients(f, &r, "worker kills", kills);
	assert_int_equal(kills, KILLS);
	assert_int_equal(check_table(&f->srv.table, report, NULL), 0);
}

/* shm_nattch of the control table (the kernel's segment), or -1. */
static long
table_nattch(int shmid)
{
	struct shmid_ds ds;

	return shmctl(shmid, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
}

static void
test_whole_server_kills_under_persist_lose_no_store_of_coherent_attachments(void **state)
{
	struct fixture *f = *state;
	struct server *gen = calloc(SERVER_KILLS, sizeof(*gen));
	struct server *now = &f->srv;
	char name[32], sock[108];
	struct run r;
	int kills;

	assert_non_null(gen);
	snprintf(name, sizeof(name), "soakc-%d", (int)getpid());
	assert_int_equal(fixture_start(f, "--persist", name, "--workers", "2", "--memory", "1M", NULL),
			 0);
	snprintf(sock, sizeof(sock), "%s", f->srv.unix_path);
	start_clients(f, &r);
	for (kills = 0; kills < SERVER_KILLS; kills++) {
		uint64_t before = total(r.sh->cycles);

		/* Let the clients attach and detach through this generation. */
		assert_true(WAIT_UNTIL(total(r.sh->cycles) > before + 20, 20000));
		server_kill_group(now, SIGKILL);
		assert_true(server_wait_group_gone(now, HARNESS_STOP_MS));
		/* A killed process lets go of the table as it exits, a moment after it stops running. */
		assert_true(WAIT_UNTIL(table_nattch(f->srv.shmid) == 0, HARNESS_STOP_MS));
		now = &gen[kills];
		assert_int_equal(server_start(now, "--unix", sock, "--persist", name, "--workers", "2",
					      "--memory", "1M", NULL),
				 0);
		assert_true(server_log_has(now, "persist: took over"));
	}
	assert_true(WAIT_UNTIL(total(r.sh->cycles) > 20, 20000));
	finish_clients(f, &r, "whole-server kills under --persist", kills);
	assert_true(server_attach(now));
	assert_int_equal(check_table(&now->table, report, NULL), 0);
	server_detach(now);
	assert_int_equal(server_stop(now), 0);
	for (int g = SERVER_KILLS - 1; g >= 0; g--)
		server_destroy(&gen[g]);
	free(gen);
}

/* The fixture's teardown, and then the named arena a failed test may have left. */
static int
persist_teardown(void **state)
{
	int rc = fixture_teardown(state);
	char path[64];

	snprintf(path, sizeof(path), "/dev/shm/dshm-soakc-%d", (int)getpid());
	unlink(path);
	return rc;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_worker_kills_lose_no_store_of_coherent_attachments),
		{"test_whole_server_kills_under_persist_lose_no_store_of_coherent_attachments",
		 test_whole_server_kills_under_persist_lose_no_store_of_coherent_attachments,
		 fixture_prepare_unix, persist_teardown, NULL},
	};

	return cmocka_run_group_tests_name("soak of coherent attachments", tests, NULL, NULL);
}
