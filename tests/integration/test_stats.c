/*
 * test_stats.c — live counters: dshm_stats (a STATS request) over both
 * transports, and dshm-ipcs --stats ($DSHM_IPCS) reading the same
 * scoreboard, count connections, requests per operation, bytes and
 * errors per code, and the allocator's frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

/* The value of counter name in text, or -1 when it is not there. */
static long long
counter(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

static void
test_stats_count_requests_errors_bytes_and_frames(void **state)
{
	struct fixture *f = *state;
	char data[5000], *text = NULL;
	int fd = dshm_connect(f->addr);

	memset(data, 7, sizeof(data));
	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 1, 3, NULL), DSHM_SUCCESS);
	for (int i = 0; i < 5; i++)
		assert_int_equal(memory_write(fd, 1, 0, 0, 5000, 5000, data, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_finalize_process(fd, 99, NULL), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(memory_write(fd, 1, 3, 0, 1, 1, data, NULL), DSHM_PAGE_FAULT);

	assert_int_equal(dshm_stats(fd, &text), DSHM_SUCCESS);
	assert_non_null(text);
	assert_int_equal(counter(text, "requests_proc_init"), 1);
	assert_int_equal(counter(text, "requests_proc_write"), 6);
	assert_int_equal(counter(text, "requests_proc_finalize"), 1);
	assert_int_equal(counter(text, "errors_-207"), 1);
	assert_int_equal(counter(text, "errors_-205"), 1);
	assert_true(counter(text, "bytes_in") >= 5 * 5000);
	assert_int_equal(counter(text, "frames_used"), 3);
	assert_int_equal(counter(text, "frames_free"), 16384 - 3);
	assert_int_equal(counter(text, "processes"), 1);
	assert_int_equal(counter(text, "workers"), 2);
	assert_true(counter(text, "conns_now") >= 1);
	assert_true(counter(text, "conns_total") >= 1);
	assert_int_equal(counter(text, "conns_refused"), 0);
	assert_true(counter(text, "uptime") >= 0);
	free(text);
	close(fd);
}

static void
test_ipcs_stats_reads_the_same_counters_from_the_scoreboard(void **state)
{
	struct fixture *f = *state;
	const char *ipcs = getenv("DSHM_IPCS");
	char cmd[512], out[8192];
	size_t n = 0;
	FILE *p;
	int fd = dshm_connect(f->addr);

	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 4, 2, NULL), DSHM_SUCCESS);
	close(fd);
	snprintf(cmd, sizeof(cmd), "%s --server %s --stats",
		 ipcs && ipcs[0] ? ipcs : "build/asan/dshm-ipcs", f->srv.unix_addr);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < sizeof(out) && fgets(out + n, (int)(sizeof(out) - n), p) != NULL)
		n += strlen(out + n);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_int_equal(counter(out, "requests_proc_init"), 1);
	assert_int_equal(counter(out, "frames_used"), 2);
	assert_int_equal(counter(out, "processes"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_stats_count_requests_errors_bytes_and_frames),
		TEST_ONE(test_ipcs_stats_reads_the_same_counters_from_the_scoreboard),
	};

	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
