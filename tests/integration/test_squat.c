/*
 * test_squat.c — a user who takes the place where a client looks for
 * dshmd gets nothing from it.  A process of uid 65534 (nobody) listens
 * on a Unix socket path, then on a loopback TCP port, and counts the
 * bytes its callers send; this test, as root, points libdshm there:
 * every connection is refused with DSHM_WRONG_SERVER (EACCES for the
 * segment calls) before a byte is sent, and dshm_last_error names both
 * uids.  $DSHM_SERVER_UID makes the same server trusted.
 *
 * Needs root (to be another user than the squatter); skipped without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define SQUATTER 65534

struct squat {
	char dir[64], path[96], addr[120];
	int report[2]; /* the squatter's bytes received, when told to stop */
	int stop[2];
	pid_t pid;
};

/* The squatter: listens as uid SQUATTER, reads whatever comes until told to stop. */
static int
squatter(void *arg)
{
	struct squat *s = arg;
	struct sockaddr_storage ss = {0};
	socklen_t len;
	uint64_t got = 0, conns = 0;
	int lfd;

	close(s->report[0]);
	close(s->stop[1]);
	if (setgid(SQUATTER) != 0 || setuid(SQUATTER) != 0)
		return 10;
	if (s->path[0] != '\0') {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;

		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", s->path);
		len = sizeof(*sun);
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
		lfd = socket(AF_INET, SOCK_STREAM, 0);
	}
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, len) != 0 || listen(lfd, 16) != 0)
		return 11;
	if (s->path[0] != '\0')
		chmod(s->path, 0777);
	/* Ready: the port (0 for a Unix socket) goes up the report pipe first. */
	len = sizeof(ss);
	getsockname(lfd, (struct sockaddr *)&ss, &len);
	uint16_t port = s->path[0] != '\0' ? 0 : ntohs(((struct sockaddr_in *)&ss)->sin_port);

	if (write(s->report[1], &port, sizeof(port)) != sizeof(port))
		return 12;
	for (;;) {
		struct pollfd p[2] = {{lfd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
		unsigned char buf[4096];
		ssize_t n;
		int c;

		if (poll(p, 2, -1) < 0)
			continue;
		/*
		 * Connections already queued are counted before the stop is
		 * heeded: a caller's connect has returned once its connection
		 * is queued, so the count never misses one it made.
		 */
		if (!(p[0].revents & POLLIN)) {
			if (p[1].revents)
				break;
			continue;
		}
		if ((c = accept(lfd, NULL, NULL)) < 0)
			continue;
		conns++;
		/* Whatever the caller sends before it hangs up (bounded by the test's own bound). */
		while (poll(&(struct pollfd){c, POLLIN, 0}, 1, 5000) > 0 && (n = read(c, buf, sizeof(buf))) > 0)
			got += (uint64_t)n;
		close(c);
	}
	return write(s->report[1], &got, sizeof(got)) == sizeof(got) &&
			       write(s->report[1], &conns, sizeof(conns)) == sizeof(conns)
		       ? 0
		       : 13;
}

/* Starts a squatter on a Unix socket (unix true) or on a loopback port. */
static void
squat_start(struct squat *s, bool unix_socket)
{
	uint16_t port;

	memset(s, 0, sizeof(*s));
	if (unix_socket) {
		snprintf(s->dir, sizeof(s->dir), "/tmp/dshm-squat-XXXXXX");
		assert_non_null(mkdtemp(s->dir));
		assert_int_equal(chown(s->dir, SQUATTER, SQUATTER), 0);
		snprintf(s->path, sizeof(s->path), "%s/dshm.sock", s->dir);
	}
	assert_int_equal(pipe(s->report), 0);
	assert_int_equal(pipe(s->stop), 0);
	assert_true((s->pid = fork_child(squatter, s)) > 0);
	close(s->report[1]);
	close(s->stop[0]);
	assert_int_equal(read(s->report[0], &port, sizeof(port)), (ssize_t)sizeof(port));
	if (unix_socket)
		snprintf(s->addr, sizeof(s->addr), "unix:%s", s->path);
	else
		snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", (unsigned)port);
}

/* Stops the squatter; returns the bytes it received, and its connections in *conns. */
static uint64_t
squat_stop(struct squat *s, uint64_t *conns)
{
	uint64_t got = UINT64_MAX;

	close(s->stop[1]);
	assert_int_equal(read(s->report[0], &got, sizeof(got)), (ssize_t)sizeof(got));
	assert_int_equal(read(s->report[0], conns, sizeof(*conns)), (ssize_t)sizeof(*conns));
	close(s->report[0]);
	assert_int_equal(wait_child(s->pid, HARNESS_STOP_MS), 0);
	if (s->path[0] != '\0') {
		unlink(s->path);
		rmdir(s->dir);
	}
	return got;
}

static void
refused_everywhere(struct squat *s)
{
	char want[64];
	int fd = -1;

	snprintf(want, sizeof(want), "runs as uid %d", SQUATTER);
	/* The paging API: handshake connects to $DSHM_SERVER. */
	assert_int_equal(setenv("DSHM_SERVER", s->addr, 1), 0);
	assert_int_equal(handshake(&fd, NULL), DSHM_WRONG_SERVER);
	assert_non_null(strstr(dshm_last_error(), want));
	assert_non_null(strstr(dshm_last_error(), "uid 0"));
	assert_int_equal(unsetenv("DSHM_SERVER"), 0);
	assert_int_equal(dshm_connect(s->addr), DSHM_WRONG_SERVER);
	assert_string_equal(dshm_strerror(DSHM_WRONG_SERVER),
			    "the server runs as a user not trusted (see DSHM_SERVER_UID)");
	/* The segment calls: EACCES, nothing attached or made. */
	assert_int_equal(dshm_set_server(s->addr), 0);
	errno = 0;
	assert_int_equal(dshm_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(dshm_set_server(NULL), 0);
}

static void
trusted_by_name(struct squat *s)
{
	int fd;

	/* Told to trust the squatter's user, the client talks to it (a byte at least). */
	assert_int_equal(setenv("DSHM_SERVER_UID", "65534", 1), 0);
	fd = dshm_connect(s->addr);
	assert_int_equal(unsetenv("DSHM_SERVER_UID"), 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static void
test_a_squatter_on_the_unix_socket_gets_nothing(void **state)
{
	struct squat s;
	uint64_t conns;

	(void)state;
	if (geteuid() != 0)
		skip();
	squat_start(&s, true);
	refused_everywhere(&s);
	assert_int_equal(squat_stop(&s, &conns), 0);
	assert_true(conns >= 3); /* each call reached it, and said nothing */
	squat_start(&s, true);
	trusted_by_name(&s);
	assert_int_equal(squat_stop(&s, &conns), 1);
}

static void
test_a_squatter_on_a_loopback_port_gets_nothing(void **state)
{
	struct squat s;
	uint64_t conns;

	(void)state;
	if (geteuid() != 0)
		skip();
	squat_start(&s, false);
	refused_everywhere(&s);
	assert_int_equal(squat_stop(&s, &conns), 0);
	assert_true(conns >= 3);
	squat_start(&s, false);
	trusted_by_name(&s);
	assert_int_equal(squat_stop(&s, &conns), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_squatter_on_the_unix_socket_gets_nothing),
		cmocka_unit_test(test_a_squatter_on_a_loopback_port_gets_nothing),
	};

	return cmocka_run_group_tests_name("squatters", tests, NULL, NULL);
}
