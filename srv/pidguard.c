/*
 * pidguard.c — the pidfile as dshmd may write it.  libbsd's pidfile_open
 * opens with O_CREAT | O_TRUNC and follows symlinks: where another user
 * may plant a symlink (a world-writable directory, and a kernel with
 * fs.protected_symlinks = 0, as in many containers), root's dshmd would
 * truncate the file it points to.  dshmd opens the path itself first,
 * never through a symlink, and keeps that open while pidfile_open runs;
 * the two must be one file.
 */
#include "pidguard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Opens the pidfile as it stands before libbsd's pidfile_open (which
 * follows symlinks and truncates): never through a symlink, only a file
 * of dshmd's own user, in a directory nobody else may rename it in.
 * Holding it open while pidfile_open runs, then comparing the two, means
 * pidfile_open wrote to this very file.  Returns the descriptor, or -1
 * with why in err.
 */
int
pidfile_guard(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st, ds;
	int fd;

	snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 : slash == path ? 1 : (int)(slash - path),
		 slash == NULL ? "." : path);
	if (stat(dir, &ds) == 0 && (ds.st_mode & S_IWOTH) && !(ds.st_mode & S_ISVTX)) {
		snprintf(err, errlen, "pidfile %s: its directory is writable by everyone without the "
				      "sticky bit, where anyone could swap the file: choose another --pidfile",
			 path);
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0) {
		snprintf(err, errlen, "pidfile %s: %s%s", path, strerror(errno),
			 errno == ELOOP ? " (a symlink: dshmd does not follow one there)" : "");
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		snprintf(err, errlen, "pidfile %s is not a file of uid %u's own: not writing to it",
			 path, (unsigned)geteuid());
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether two descriptors are of one file. */
bool
same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

