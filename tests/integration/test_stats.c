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
#include <signal.h>
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

/* Runs dshm-ipcs ARGS against f's server; its output in out. */
static void
run_ipcs(const struct fixture *f, const char *args, char *out, size_t len)
{
	const char *ipcs = getenv("DSHM_IPCS");
	char cmd[512];
	size_t n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s --server %s %s",
		 ipcs && ipcs[0] ? ipcs : "build/asan/dshm-ipcs", f->srv.unix_addr, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < len && fgets(out + n, (int)(len - n), p) != NULL)
		n += strlen(out + n);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
}

/* Whether each line is a comment or NAME[{LABEL="V"}] VALUE, and each metric has HELP and TYPE. */
static void
assert_exposition_format(char *text)
{
	char last_typed[96] = "";

	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char name[96];
		unsigned long long v;
		int used = 0;

		if (strncmp(line, "# HELP dshm_", 12) == 0)
			continue;
		if (sscanf(line, "# TYPE %95s %n", name, &used) == 1) {
			if (strcmp(line + used, "counter") != 0 && strcmp(line + used, "gauge") != 0)
				fail_msg("a TYPE that is neither counter nor gauge: %s", line);
			if (strcmp(line + used, "counter") == 0 &&
			    strcmp(name + strlen(name) - 6, "_total") != 0)
				fail_msg("a counter not named *_total: %s", line);
			snprintf(last_typed, sizeof(last_typed), "%s", name);
			continue;
		}
		if (sscanf(line, "%95[a-z_]%n", name, &used) != 1 || strcmp(name, last_typed) != 0)
			fail_msg("a sample with no TYPE line before it: %s", line);
		if (line[used] == '{') {
			char *close = strchr(line + used, '}');

			if (close == NULL || strstr(line + used, "=\"") == NULL)
				fail_msg("a malformed label: %s", line);
			used = (int)(close - line) + 1;
		}
		if (sscanf(line + used, " %llu", &v) != 1)
			fail_msg("a sample without a number: %s", line);
	}
}

static void
test_ipcs_prints_the_counters_for_prometheus(void **state)
{
	struct fixture *f = *state;
	char out[16384], text[8192];
	pid_t workers[2];
	int fd = dshm_connect(f->addr);

	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 4, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_finalize_process(fd, 99, NULL), DSHM_NO_SUCH_PROCESS);
	close(fd);
	/* A worker that dies is started again, and counted. */
	assert_int_equal(server_workers(&f->srv, workers, 2), 2);
	kill(workers[0], SIGKILL);
	assert_true(WAIT_UNTIL(({
		run_ipcs(f, "--stats", text, sizeof(text));
		counter(text, "worker_restarts") == 1 && counter(text, "workers_serving") == 2;
	}), HARNESS_STOP_MS));

	run_ipcs(f, "--stats --prometheus", out, sizeof(out));
	assert_non_null(strstr(out, "\ndshm_frames_used 2\n"));
	assert_non_null(strstr(out, "\ndshm_processes 1\n"));
	assert_non_null(strstr(out, "\ndshm_worker_restarts_total 1\n"));
	assert_non_null(strstr(out, "\ndshm_operation_requests_total{op=\"proc_init\"} 1\n"));
	assert_non_null(strstr(out, "\ndshm_errors_total{code=\"-207\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE dshm_requests_total counter\n"));
	assert_non_null(strstr(out, "# TYPE dshm_connections gauge\n"));
	assert_exposition_format(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_stats_count_requests_errors_bytes_and_frames),
		TEST_ONE(test_ipcs_stats_reads_the_same_counters_from_the_scoreboard),
		TEST_ONE(test_ipcs_prints_the_counters_for_prometheus),
	};

	return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
