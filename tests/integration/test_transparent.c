/*
 * test_transparent.c — the differential suite of unmodified programs
 * (tests/programs/README.md): each one runs on the kernel's System V
 * shared memory, then under dshm-run against a real dshmd, with the same
 * key; what it prints (stdout and stderr) and how it ends must be the
 * same.  The programs are plain C built once; they know nothing of dshm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* A program runs in seconds; the bound is for a machine busy with other work. */
#define PROGRAM_MS 120000

struct outcome {
	char *out; /* stdout and stderr, interleaved as written */
	int status; /* wait_child's: exit status, 128 + signal, -1 (killed at the bound) */
};

static const char *
env_path(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		fail_msg("$%s is not set (tests/run-tests.sh sets it)", name);
	return v;
}

/* The key of one program's runs: this test process's, and the program's index. */
static key_t
key_for(int index)
{
	return (key_t)(0x7d000000u | ((uint32_t)getpid() & 0xffffu) << 8 | (uint32_t)index);
}

/*
 * Runs program NAME with its key, under dshm-run (server: addr) unless
 * addr is NULL, and collects what it printed.
 */
static struct outcome
run(const char *name, key_t key, const char *addr)
{
	char prog[512], keyarg[16], outpath[160], dir[96];
	struct outcome o = {NULL, -1};
	static int serial;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/%s", env_path("DSHM_PROGRAMS"), name);
	snprintf(keyarg, sizeof(keyarg), "%#x", (unsigned)key);
	assert_true(scratch_dir(dir, sizeof(dir)));
	snprintf(outpath, sizeof(outpath), "%s/%s.%d.out", dir, name, serial++);
	if (addr == NULL)
		pid = spawn_program((const char *const[]){prog, keyarg, NULL}, NULL, -1, outpath);
	else
		pid = spawn_program((const char *const[]){env_path("DSHM_RUN"), "--server", addr, prog,
							   keyarg, NULL},
				    NULL, -1, outpath);
	assert_true(pid > 0);
	o.status = wait_child(pid, PROGRAM_MS);
	o.out = read_whole_file(outpath);
	assert_non_null(o.out);
	return o;
}

/* Runs name on the kernel and under dshm-run against f's server; both must agree. */
static void
same_as_the_kernel(struct fixture *f, const char *name, int index)
{
	key_t key = key_for(index);
	struct outcome kernel = run(name, key, NULL);
	struct outcome dshm = run(name, key, f->addr);

	if (strcmp(kernel.out, dshm.out) != 0 || kernel.status != dshm.status) {
		print_error("--- %s on the kernel (status %d):\n%s--- under dshm-run (status %d):\n%s",
			    name, kernel.status, kernel.out, dshm.status, dshm.out);
		free(kernel.out);
		free(dshm.out);
		fail_msg("%s: the outputs differ", name);
	}
	/* A run that failed the same way on both is no pass. */
	assert_int_equal(kernel.status, 0);
	assert_null(strstr(kernel.out, "FAILED"));
	free(kernel.out);
	free(dshm.out);
}

static void
test_a_ring_with_spin_flags_passes_every_item_in_order(void **state)
{
	same_as_the_kernel(*state, "ring", 1);
}

static void
test_atomic_and_mutex_counters_end_at_the_exact_sum_and_a_robust_mutex_recovers(void **state)
{
	same_as_the_kernel(*state, "counters", 2);
}

static void
test_attachments_follow_fork_exec_and_exit(void **state)
{
	same_as_the_kernel(*state, "fork_exec", 3);
}

static void
test_a_store_into_a_read_only_attachment_is_sigsegv(void **state)
{
	same_as_the_kernel(*state, "rdonly", 4);
}

static void
test_calls_after_setuid_are_refused_as_the_kernel_refuses_them(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip(); /* the program changes ids: only root can */
	server_open_to_all(&f->srv); /* nobody must reach the socket to be refused there */
	same_as_the_kernel(f, "perms", 5);
}

static void
test_system_calls_read_and_write_segment_memory(void **state)
{
	same_as_the_kernel(*state, "files", 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE(test_a_ring_with_spin_flags_passes_every_item_in_order),
		TEST_ONE(test_atomic_and_mutex_counters_end_at_the_exact_sum_and_a_robust_mutex_recovers),
		TEST_ONE(test_attachments_follow_fork_exec_and_exit),
		TEST_ONE(test_a_store_into_a_read_only_attachment_is_sigsegv),
		TEST_ONE(test_calls_after_setuid_are_refused_as_the_kernel_refuses_them),
		TEST_ONE(test_system_calls_read_and_write_segment_memory),
	};

	return cmocka_run_group_tests_name("transparent", tests, NULL, NULL);
}
