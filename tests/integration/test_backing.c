/*
 * test_backing.c — an arena the host cannot back is refused at start,
 * naming both numbers, unless --overcommit; and with --overcommit, a
 * request for frames the host cannot back gets NO_SPACE (-203) while
 * nothing else changes and no worker dies.
 *
 * The small host is a tmpfs of 24 MiB mounted on /dev/shm in a mount
 * namespace of the test's own: a --persist arena lives there, and under
 * --overcommit it is not reserved whole, so the frames given past the
 * tmpfs's room are the ones the kernel refuses.  Needs root (to mount);
 * skipped without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

/* /dev/shm as a 24 MiB tmpfs of this process's own; false if this host cannot. */
static bool
small_dev_shm(void)
{
	static int done;

	if (done == 0)
		done = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
			       mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
			       mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
				     "size=24m,mode=1777") == 0
		       ? 1
		       : -1;
	return done == 1;
}

static void
test_an_arena_larger_than_the_host_is_refused_unless_overcommit(void **state)
{
	struct server s = {0};

	(void)state;
	/* 900 TiB: more than any host this runs on, and no arena is mapped to find out. */
	assert_int_equal(server_spawn(&s, "--memory", "900T", "--frame-size", "1M", NULL), 0);
	if (server_wait_exit(&s, HARNESS_STOP_MS) != 1 ||
	    !server_log_has(&s, "--memory 900T (989560464998400 bytes) is more than this host can back") ||
	    !server_log_has(&s, "of RAM and") || !server_log_has(&s, "--overcommit")) {
		server_print_log(&s);
		fail_msg("dshmd did not refuse an arena of 900T with both numbers");
	}
	server_destroy(&s);
}

/* The status of PROC_INIT pid with pages pages on a connection of its own. */
static int
init_on(const char *addr, int pid, int pages)
{
	int fd = dshm_connect(addr), rc;

	assert_true(fd >= 0);
	rc = memory_init_process(fd, pid, pages, NULL);
	close(fd);
	return rc;
}

static void
test_frames_the_host_cannot_back_are_refused_and_nothing_else_changes(void **state)
{
	struct fixture *f = *state;
	char name[32], object[64];
	pid_t before[1], after[1];
	struct proto_hello h0, h1;
	t_read_response *r;
	int fd;

	if (!small_dev_shm())
		skip();
	snprintf(name, sizeof(name), "t%d-backing", (int)getpid());
	snprintf(object, sizeof(object), "/dev/shm/dshm-%s", name);
	/* 32 MiB of frames (and 16 MiB of undo area) on a 24 MiB tmpfs: refused, naming /dev/shm. */
	{
		struct server s = {0};

		assert_int_equal(server_spawn(&s, "--persist", name, "--memory", "32M", "--workers",
					      "1", NULL),
				 0);
		if (server_wait_exit(&s, HARNESS_STOP_MS) != 1 ||
		    !server_log_has(&s, "is more than this host can back") ||
		    !server_log_has(&s, "/dev/shm has")) {
			server_print_log(&s);
			fail_msg("dshmd did not refuse 32M on a 24M /dev/shm");
		}
		server_destroy(&s);
		unlink(object);
	}
	assert_int_equal(fixture_start(f, "--persist", name, "--memory", "32M", "--workers", "1",
				       "--overcommit", NULL),
			 0);
	assert_true(server_log_has(&f->srv, "--overcommit: starting anyway"));
	assert_int_equal(server_workers(&f->srv, before, 1), 1);
	/* 8 MiB are backed at once; its bytes are there. */
	assert_int_equal(init_on(f->addr, 1, 2048), DSHM_SUCCESS);
	fd = dshm_connect(f->addr);
	assert_true(fd >= 0);
	assert_int_equal(memory_write(fd, 1, 2047, 0, 5, 5, "kept", NULL), DSHM_SUCCESS);
	assert_true(raw_hello(f->addr, &h0));
	/* 20 MiB more do not fit in what is left of 24: NO_SPACE, and the table is as it was. */
	assert_int_equal(init_on(f->addr, 2, 5120), DSHM_NO_SPACE);
	assert_true(raw_hello(f->addr, &h1));
	assert_int_equal(h1.frames_free, h0.frames_free);
	assert_int_equal(memory_assign_pages(fd, 1, 5120, NULL), DSHM_NO_SPACE);
	assert_true(raw_hello(f->addr, &h1));
	assert_int_equal(h1.frames_free, h0.frames_free);
	/* The worker that was refused still serves, the first process is whole, a small one fits. */
	assert_int_equal(server_workers(&f->srv, after, 1), 1);
	assert_int_equal(after[0], before[0]);
	r = memory_read(fd, 1, 2047, 0, 5, NULL);
	assert_non_null(r);
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_string_equal(r->buffer, "kept");
	free(r->buffer);
	free(r);
	assert_int_equal(init_on(f->addr, 3, 256), DSHM_SUCCESS);
	close(fd);
	assert_int_equal(server_stop(&f->srv), 0);
	server_destroy(&f->srv);
	unlink(object);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_arena_larger_than_the_host_is_refused_unless_overcommit),
		TEST_ONE_BARE(test_frames_the_host_cannot_back_are_refused_and_nothing_else_changes),
	};

	return cmocka_run_group_tests_name("backing", tests, NULL, NULL);
}
