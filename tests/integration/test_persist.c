/*
 * test_persist.c — dshmd --persist NAME: a clean stop keeps the arena
 * (/dev/shm/dshm-NAME) and the control table, and the next start of the
 * same name serves the same processes and segments; a kept table is
 * refused to a dshmd without its name, with other sizes, or without its
 * arena, each with a message that says how to clean up.  (The soak in
 * test_soak.c kills the whole server under --persist.)
 *
 * Every test removes what it kept: the table (through the harness) and
 * the named object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

struct kept {
	char name[32];
	char object[64]; /* its path under /dev/shm */
	char sock[108];
};

/* Starts the fixture's server with --persist and a name of this test's own. */
static void
start_kept(struct fixture *f, struct kept *k, const char *tag)
{
	snprintf(k->name, sizeof(k->name), "t%d-%s", (int)getpid(), tag);
	snprintf(k->object, sizeof(k->object), "/dev/shm/dshm-%s", k->name);
	assert_int_equal(fixture_start(f, "--persist", k->name, NULL), 0);
	snprintf(k->sock, sizeof(k->sock), "%s", f->srv.unix_path);
	assert_true(server_log_has(&f->srv, "persist: made /dev/shm/dshm-"));
}

/* Starts a dshmd that must refuse with exit code and a log line holding needle. */
static void
expect_refusal(const char *const *args, int code, const char *needle)
{
	struct server s = {0};

	assert_int_equal(server_spawnv(&s, args), 0);
	if (server_wait_exit(&s, HARNESS_STOP_MS) != code || !server_log_has(&s, needle)) {
		server_print_log(&s);
		fail_msg("expected exit %d and \"%s\"", code, needle);
	}
	server_destroy(&s);
}

static void
remove_kept(struct fixture *f, struct kept *k)
{
	server_destroy(&f->srv); /* removes the table at its key */
	unlink(k->object);
	assert_false(file_exists(k->object));
}

static void
test_a_clean_stop_keeps_processes_and_segments_for_the_next_start(void **state)
{
	struct fixture *f = *state;
	struct server again = {0};
	struct kept k;
	t_read_response *r;
	char got[8] = "";
	int fd, id;

	start_kept(f, &k, "clean");
	fd = dshm_connect(f->addr);
	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 42, 3, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 42, 2, 100, 5, 5, "kept", NULL), DSHM_SUCCESS);
	close(fd);
	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(0x5e7e0001, 64, IPC_CREAT | 0640);
	assert_true(id >= 0);
	assert_int_equal(dshm_write(id, 8, "seg", 4), 4);

	assert_int_equal(server_stop(&f->srv), 0);
	assert_true(server_log_has(&f->srv, "kept the control table"));
	assert_true(file_exists(k.object));
	assert_true(segment_exists(f->srv.key));

	assert_int_equal(server_start(&again, "--unix", k.sock, "--persist", k.name, NULL), 0);
	assert_true(server_log_has(&again, "persist: took over"));
	fd = dshm_connect(f->addr);
	assert_true(fd >= 0);
	r = memory_read(fd, 42, 2, 100, 5, NULL);
	assert_non_null(r);
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_string_equal(r->buffer, "kept");
	free(r->buffer);
	free(r);
	close(fd);
	/* The same segment, by key and by id, with its bytes and mode. */
	assert_int_equal(dshm_set_server(f->addr), 0);
	assert_int_equal(dshm_shmget(0x5e7e0001, 0, 0), id);
	assert_int_equal(dshm_read(id, 8, got, 4), 4);
	assert_string_equal(got, "seg");
	assert_int_equal(server_stop(&again), 0);
	server_destroy(&again);
	remove_kept(f, &k);
}

static void
test_a_kept_table_is_refused_without_its_name_or_with_other_sizes(void **state)
{
	struct fixture *f = *state;
	struct kept k;

	start_kept(f, &k, "sizes");
	assert_int_equal(server_stop(&f->srv), 0);
	expect_refusal((const char *const[]){"--unix", k.sock, NULL}, 3,
		       "was kept by dshmd --persist");
	expect_refusal((const char *const[]){"--unix", k.sock, "--persist", "another", NULL}, 3,
		       "start with --persist");
	expect_refusal((const char *const[]){"--unix", k.sock, "--persist", k.name, "--workers",
					     "3", NULL},
		       4, "start with the sizes it was made with");
	expect_refusal((const char *const[]){"--unix", k.sock, "--persist", k.name,
					     "--max-processes", "99", NULL},
		       1, "made with --max-processes 512, not 99");
	/* Nothing was touched by the refusals: the right start still takes it over. */
	{
		struct server again = {0};

		assert_int_equal(server_start(&again, "--unix", k.sock, "--persist", k.name, NULL),
				 0);
		assert_true(server_log_has(&again, "persist: took over"));
		assert_int_equal(server_stop(&again), 0);
		server_destroy(&again);
	}
	remove_kept(f, &k);
}

static void
test_an_arena_without_its_table_is_refused_and_left_alone(void **state)
{
	struct fixture *f = *state;
	struct kept k;

	start_kept(f, &k, "orphan");
	assert_int_equal(server_stop(&f->srv), 0);
	assert_int_equal(shmctl(f->srv.shmid, IPC_RMID, NULL), 0);
	expect_refusal((const char *const[]){"--unix", k.sock, "--persist", k.name, NULL}, 3,
		       "exists but no control table");
	assert_true(file_exists(k.object));
	remove_kept(f, &k);
}

static void
test_an_arena_someone_else_made_is_never_used(void **state)
{
	struct fixture *f = *state;
	char name[32], path[64];
	int fd;

	(void)f;
	snprintf(name, sizeof(name), "t%d-foreign", (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/dshm-%s", name);
	/* Planted by another user, open to all: dshmd must neither read nor fill it. */
	fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0666);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0666), 0);
	assert_int_equal(fchown(fd, 65534, 65534), 0);
	close(fd);
	expect_refusal((const char *const[]){"--persist", name, NULL}, 4,
		       "dshmd uses only an arena of its own user");
	assert_int_equal(unlink(path), 0);
}

/* The fixture's teardown, and then the named arenas a failed test may have left. */
static int
persist_teardown(void **state)
{
	const char *const tags[] = {"clean", "sizes", "orphan", "foreign"};
	int rc = fixture_teardown(state);

	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/shm/dshm-t%d-%s", (int)getpid(), tags[i]);
		unlink(path);
	}
	return rc;
}

#define TEST_PERSIST(f) {#f, f, fixture_prepare_unix, persist_teardown, NULL}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_PERSIST(test_a_clean_stop_keeps_processes_and_segments_for_the_next_start),
		TEST_PERSIST(test_a_kept_table_is_refused_without_its_name_or_with_other_sizes),
		TEST_PERSIST(test_an_arena_without_its_table_is_refused_and_left_alone),
		TEST_PERSIST(test_an_arena_someone_else_made_is_never_used),
	};

	return cmocka_run_group_tests_name("persist", tests, NULL, NULL);
}
