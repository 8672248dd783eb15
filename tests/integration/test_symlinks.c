/*
 * test_symlinks.c — a symlink planted where dshmd will create a file
 * (its socket, its pidfile, its --persist arena) makes it refuse to
 * start, and the file the symlink points to is left as it was: root's
 * dshmd never writes through another user's symlink, whatever
 * fs.protected_symlinks says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

struct planted {
	char dir[96], target[128], link[128];
};

#define PRECIOUS "precious bytes that must stay\n"

/* A file with PRECIOUS in it, and path linking to it. */
static void
plant(struct planted *p, const char *link_path)
{
	FILE *f;

	assert_true(scratch_dir(p->dir, sizeof(p->dir)));
	snprintf(p->target, sizeof(p->target), "%s/target", p->dir);
	assert_non_null(f = fopen(p->target, "w"));
	fputs(PRECIOUS, f);
	fclose(f);
	snprintf(p->link, sizeof(p->link), "%s", link_path);
	assert_int_equal(symlink(p->target, p->link), 0);
}

/* dshmd (spawned with args) did not get ready, and the target is intact. */
static void
refused_and_untouched(struct server *s, struct planted *p)
{
	char *text;

	assert_int_not_equal(server_wait_exit(s, HARNESS_READY_MS), 0);
	assert_false(server_log_has(s, "ready: "));
	assert_non_null(text = read_whole_file(p->target));
	assert_string_equal(text, PRECIOUS);
	free(text);
	unlink(p->link);
	unlink(p->target);
	server_destroy(s);
	remove_tree(p->dir);
}

static void
test_a_symlink_as_the_pidfile_is_not_followed(void **state)
{
	struct server s;
	struct planted p;
	char link[128];

	(void)state;
	assert_true(scratch_dir(link, sizeof(link)));
	strcat(link, "/dshmd.pid");
	plant(&p, link);
	assert_int_equal(server_spawn(&s, "--pidfile", p.link, NULL), 0);
	refused_and_untouched(&s, &p);
	*strrchr(link, '/') = '\0';
	remove_tree(link);
}

static void
test_a_symlink_as_the_unix_socket_is_not_followed(void **state)
{
	struct server s;
	struct planted p;
	char link[128];

	(void)state;
	assert_true(scratch_dir(link, sizeof(link)));
	strcat(link, "/dshm.sock");
	plant(&p, link);
	assert_int_equal(server_spawn(&s, "--unix", p.link, NULL), 0);
	refused_and_untouched(&s, &p);
	*strrchr(link, '/') = '\0';
	remove_tree(link);
}

static void
test_a_symlink_as_the_persist_arena_is_not_followed(void **state)
{
	struct server s;
	struct planted p;
	char name[32], link[64];

	(void)state;
	snprintf(name, sizeof(name), "symlink-%d", (int)getpid());
	snprintf(link, sizeof(link), "/dev/shm/dshm-%s", name);
	plant(&p, link);
	assert_int_equal(server_spawn(&s, "--persist", name, NULL), 0);
	refused_and_untouched(&s, &p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_symlink_as_the_pidfile_is_not_followed),
		cmocka_unit_test(test_a_symlink_as_the_unix_socket_is_not_followed),
		cmocka_unit_test(test_a_symlink_as_the_persist_arena_is_not_followed),
	};

	return cmocka_run_group_tests_name("symlinks", tests, NULL, NULL);
}
