/*
 * sockprobe.c — tells a served Unix socket from a stale file (see
 * sockprobe.h) by connecting to it without blocking.
 */
#include "sockprobe.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum unix_state
sockprobe_unix(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct stat st;
	enum unix_state state;
	int fd;

	if (lstat(path, &st) < 0)
		return UNIX_FREE;
	if (!S_ISSOCK(st.st_mode))
		return UNIX_NOT_SOCKET;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return UNIX_LIVE; /* cannot tell: assume someone is there */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN)
		state = UNIX_LIVE; /* EAGAIN: a full backlog, so a live listener */
	else
		state = errno == ECONNREFUSED ? UNIX_STALE : UNIX_LIVE;
	close(fd);
	return state;
}
