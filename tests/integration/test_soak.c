/*
 * test_soak.c — kill -9 soak: client processes keep writing checksummed
 * records that straddle page boundaries while the test SIGKILLs dshmd's
 * workers again and again.  Afterwards every record a client saw
 * acknowledged is there, intact (or a later attempt replaced it whole),
 * and the control table passes the invariant check.
 *
 * A second soak kills the whole server (master and workers, SIGKILL to
 * its process group) SERVER_KILLS times under --persist and starts it
 * again each time: the new dshmd takes the kept table and arena over, and
 * nothing acknowledged is lost.
 *
 * Bounded: SOAK_KILLS kills and SOAK_LIMIT_MS at most; it prints the
 * kills survived and the writes verified.  Assumes root: it signals the
 * server's workers and attaches its control table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
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

#define SOAK_KILLS 100
#define SERVER_KILLS 10
#define SOAK_LIMIT_MS 120000
#define CLIENTS 4
#define SLOTS 10
#define RECORD 3000 /* 10 records over 8 pages of 4096: most straddle two frames */
#define PAGES 8

struct shared {
	_Atomic int stop;
	_Atomic uint64_t acked[CLIENTS];
	_Atomic uint64_t verified[CLIENTS];
};

static uint32_t
fnv(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Record seq of slot for client c: seq, slot, payload, then a checksum of all that. */
static void
make_record(unsigned char *r, int c, uint32_t slot, uint32_t seq)
{
	memcpy(r, &seq, 4);
	memcpy(r + 4, &slot, 4);
	for (int i = 8; i < RECORD - 4; i++)
		r[i] = (unsigned char)(seq * 131 + (uint32_t)c * 17 + slot * 7 + (uint32_t)i);
	uint32_t sum = fnv(r, RECORD - 4);
	memcpy(r + RECORD - 4, &sum, 4);
}

static int
reconnect(const char *addr, int fd)
{
	if (fd >= 0)
		close(fd);
	for (int i = 0; i < 500; i++) { /* bounded: at most ~25 s of refusals */
		fd = dshm_connect(addr);
		if (fd >= 0)
			return fd;
		harness_nap_ms(50);
	}
	return -1;
}

struct client_arg {
	const char *addr;
	int c;
	struct shared *sh;
};

static int
client(void *p)
{
	struct client_arg *a = p;
	uint32_t attempted[SLOTS] = {0}, acked[SLOTS] = {0};
	unsigned char rec[RECORD];
	int pid = 500 + a->c, fd = reconnect(a->addr, -1), rc;
	uint64_t writes = 0;

	if (fd < 0)
		return 10;
	dshm_set_timeout(10000);
	while ((rc = memory_init_process(fd, pid, PAGES, NULL)) == DSHM_DISCONNECTED_SERVER)
		if ((fd = reconnect(a->addr, fd)) < 0)
			return 11;
	if (rc != DSHM_SUCCESS && rc != DSHM_PROCESS_EXISTS)
		return 12;

	for (uint32_t i = 0; !atomic_load(&a->sh->stop); i++) {
		uint32_t slot = i % SLOTS, seq = ++attempted[slot];
		int pos = (int)slot * RECORD;

		make_record(rec, a->c, slot, seq);
		rc = memory_write(fd, pid, pos / 4096, pos % 4096, RECORD, RECORD, rec, NULL);
		if (rc == DSHM_SUCCESS) {
			acked[slot] = seq;
			writes++;
			atomic_store(&a->sh->acked[a->c], writes);
		} else if (rc == DSHM_DISCONNECTED_SERVER) {
			/* Not acknowledged: it may or may not have happened, never half. */
			if ((fd = reconnect(a->addr, fd)) < 0)
				return 13;
		} else {
			return 14;
		}
	}

	/* Every acknowledged record is there, whole: that one or a later attempt. */
	for (uint32_t slot = 0; slot < SLOTS; slot++) {
		int pos = (int)slot * RECORD;
		t_read_response *r;
		uint32_t seq, sum;

		while ((r = memory_read(fd, pid, pos / 4096, pos % 4096, RECORD, NULL)) != NULL &&
		       r->exec_code == DSHM_DISCONNECTED_SERVER) {
			free(r);
			if ((fd = reconnect(a->addr, fd)) < 0)
				return 15;
		}
		if (r == NULL || r->exec_code != DSHM_SUCCESS)
			return 16;
		memcpy(&seq, r->buffer, 4);
		memcpy(&sum, (unsigned char *)r->buffer + RECORD - 4, 4);
		if (sum != fnv(r->buffer, RECORD - 4) || seq < acked[slot] || seq > attempted[slot])
			return 17;
		make_record(rec, a->c, slot, seq);
		if (memcmp(rec, r->buffer, RECORD) != 0)
			return 18;
		free(r->buffer);
		free(r);
		atomic_fetch_add(&a->sh->verified[a->c], 1);
	}
	close(fd);
	return 0;
}

static void
report(void *ctx, const char *msg)
{
	(void)ctx;
	print_error("invariant: %s\n", msg);
}

static void
test_worker_kill_soak_loses_no_acknowledged_write(void **state)
{
	struct fixture *f = *state;
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct client_arg args[CLIENTS];
	pid_t kids[CLIENTS], workers[4];
	int64_t deadline = harness_now_ms() + SOAK_LIMIT_MS;
	int kills = 0;
	uint64_t writes = 0, verified = 0;

	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	assert_int_equal(fixture_start(f, "--workers", "2", "--memory", "1M", NULL), 0);
	assert_true(server_attach(&f->srv));
	for (int c = 0; c < CLIENTS; c++) {
		args[c] = (struct client_arg){f->addr, c, sh};
		kids[c] = fork_child(client, &args[c]);
	}

	while (kills < SOAK_KILLS && harness_now_ms() < deadline) {
		uint64_t before = server_requests(&f->srv);
		int n = server_workers(&f->srv, workers, 4);

		if (n < 1) {
			harness_nap_ms(5);
			continue;
		}
		/* Kill one once it has served something since the last kill. */
		if (!WAIT_UNTIL(server_requests(&f->srv) > before + 20, 5000))
			break;
		kill(workers[kills % n], SIGKILL);
		kills++;
	}
	atomic_store(&sh->stop, 1);
	for (int c = 0; c < CLIENTS; c++)
		assert_int_equal(wait_child(kids[c], 60000), 0);
	for (int c = 0; c < CLIENTS; c++) {
		writes += atomic_load(&sh->acked[c]);
		verified += atomic_load(&sh->verified[c]);
	}
	print_message("soak: %d worker kills survived, %llu acknowledged writes, %llu records "
		      "verified\n", kills, (unsigned long long)writes, (unsigned long long)verified);
	assert_int_equal(kills, SOAK_KILLS);
	assert_int_equal(verified, CLIENTS * SLOTS);
	assert_int_equal(check_table(&f->srv.table, report, NULL), 0);
	munmap(sh, sizeof(*sh));
}

/* A --persist server of the fixture with CLIENTS writers on it. */
struct persisted_run {
	char name[32], shm[64], sock[108];
	struct client_arg args[CLIENTS];
	pid_t kids[CLIENTS];
};

static void
start_persisted_with_clients(struct fixture *f, const char *tag, struct shared *sh,
			     struct persisted_run *run)
{
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	snprintf(run->name, sizeof(run->name), "%s-%d", tag, (int)getpid());
	snprintf(run->shm, sizeof(run->shm), "/dev/shm/dshm-%s", run->name);
	assert_int_equal(fixture_start(f, "--persist", run->name, "--workers", "2", "--memory",
				       "1M", NULL),
			 0);
	snprintf(run->sock, sizeof(run->sock), "%s", f->srv.unix_path);
	for (int c = 0; c < CLIENTS; c++) {
		run->args[c] = (struct client_arg){f->addr, c, sh};
		run->kids[c] = fork_child(client, &run->args[c]);
	}
}

static uint64_t
acked_total(struct shared *sh)
{
	uint64_t n = 0;

	for (int c = 0; c < CLIENTS; c++)
		n += atomic_load(&sh->acked[c]);
	return n;
}

/* Stops the writers, which then verify every record; returns the records verified. */
static uint64_t
stop_clients(struct persisted_run *run, struct shared *sh)
{
	uint64_t verified = 0;

	atomic_store(&sh->stop, 1);
	for (int c = 0; c < CLIENTS; c++)
		assert_int_equal(wait_child(run->kids[c], 60000), 0);
	for (int c = 0; c < CLIENTS; c++)
		verified += atomic_load(&sh->verified[c]);
	return verified;
}

static long
table_nattch(int shmid)
{
	struct shmid_ds ds;

	return shmctl(shmid, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
}

/* Starts generation g of the persisted server, on the first one's socket and key. */
static void
start_generation(struct server *s, const char *sock, const char *name)
{
	assert_int_equal(server_start(s, "--unix", sock, "--persist", name, "--workers", "2",
				      "--memory", "1M", NULL),
			 0);
	assert_true(server_attach(s));
	assert_int_equal(check_table(&s->table, report, NULL), 0);
}

static void
test_whole_server_kill_soak_with_persist_loses_no_acknowledged_write(void **state)
{
	struct fixture *f = *state;
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct server *gen = calloc(SERVER_KILLS + 1, sizeof(*gen));
	struct persisted_run run;
	uint64_t verified;
	int kills = 0;

	assert_non_null(gen);
	start_persisted_with_clients(f, "soak", sh, &run);
	/* Only now: a child forked while we are attached would hold the table too. */
	assert_true(server_attach(&f->srv));

	for (struct server *now = &f->srv; kills < SERVER_KILLS; kills++) {
		uint64_t before = acked_total(sh);

		/* Let the clients get some writes acknowledged by this generation. */
		assert_true(WAIT_UNTIL(acked_total(sh) > before + 40, 10000));
		server_detach(now);
		server_kill_group(now, SIGKILL);
		assert_true(server_wait_group_gone(now, HARNESS_STOP_MS));
		/* A killed process lets go of the table as it exits, a moment after it stops running. */
		assert_true(WAIT_UNTIL(table_nattch(f->srv.shmid) == 0, HARNESS_STOP_MS));
		now = &gen[kills];
		start_generation(now, run.sock, run.name);
		assert_true(server_log_has(now, "persist: took over"));
	}
	verified = stop_clients(&run, sh);
	print_message("soak: %d whole-server kills survived under --persist, %llu acknowledged "
		      "writes, %llu records verified\n",
		      kills, (unsigned long long)acked_total(sh), (unsigned long long)verified);
	assert_int_equal(verified, CLIENTS * SLOTS);
	assert_int_equal(check_table(&gen[SERVER_KILLS - 1].table, report, NULL), 0);

	/* A clean stop keeps them too; then they are removed for good. */
	assert_int_equal(server_stop(&gen[SERVER_KILLS - 1]), 0);
	assert_true(file_exists(run.shm));
	assert_true(segment_exists(f->srv.key));
	for (int g = SERVER_KILLS; g >= 0; g--)
		server_destroy(&gen[g]);
	server_destroy(&f->srv);
	assert_false(segment_exists(f->srv.key));
	assert_int_equal(unlink(run.shm), 0);
	free(gen);
	munmap(sh, sizeof(*sh));
}

/*
 * SIGTERM while clients keep writing: the requests in flight are
 * answered, the clients then see DISCONNECTED_SERVER and nothing else
 * (client() fails on any other code), dshmd exits 0 within its 5 s, and
 * the next --persist start serves every acknowledged write.
 */
static void
test_graceful_stop_under_load_answers_what_it_took_and_keeps_it(void **state)
{
	struct fixture *f = *state;
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct server again = {0};
	struct persisted_run run;
	uint64_t before;
	int64_t t0;

	start_persisted_with_clients(f, "stop", sh, &run);
	assert_true(WAIT_UNTIL(atomic_load(&sh->acked[CLIENTS - 1]) > 50, 10000));
	t0 = harness_now_ms();
	assert_int_equal(server_stop(&f->srv), 0);
	print_message("graceful stop under the load of %d clients took %lld ms\n", CLIENTS,
		      (long long)(harness_now_ms() - t0));

	before = acked_total(sh);
	assert_int_equal(server_start(&again, "--unix", run.sock, "--persist", run.name,
				      "--workers", "2", "--memory", "1M", NULL),
			 0);
	/* The clients find the new server by themselves and go on. */
	assert_true(WAIT_UNTIL(acked_total(sh) > before + 40, 30000));
	assert_int_equal(stop_clients(&run, sh), CLIENTS * SLOTS);
	assert_int_equal(server_stop(&again), 0);
	server_destroy(&again);
	server_destroy(&f->srv);
	assert_int_equal(unlink(run.shm), 0);
	munmap(sh, sizeof(*sh));
}

/* The fixture's teardown, and then the named arenas a failed test may have left. */
static int
persist_teardown(void **state)
{
	const char *const tags[] = {"soak", "stop"};
	int rc = fixture_teardown(state);

	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/shm/dshm-%s-%d", tags[i], (int)getpid());
		unlink(path);
	}
	return rc;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_worker_kill_soak_loses_no_acknowledged_write),
		{"test_whole_server_kill_soak_with_persist_loses_no_acknowledged_write",
		 test_whole_server_kill_soak_with_persist_loses_no_acknowledged_write,
		 fixture_prepare_unix, persist_teardown, NULL},
		{"test_graceful_stop_under_load_answers_what_it_took_and_keeps_it",
		 test_graceful_stop_under_load_answers_what_it_took_and_keeps_it,
		 fixture_prepare_unix, persist_teardown, NULL},
	};

	return cmocka_run_group_tests_name("soak", tests, NULL, NULL);
}
