/*
 * run_main.c — dshm-run: runs an unmodified program with its System V
 * shared memory calls (shmget, shmat, shmdt, shmctl) served by dshmd,
 * by starting it with libdshm-preload.so in LD_PRELOAD, as torsocks or
 * proxychains do for sockets.
 *
 * It changes nothing else: the program gets its arguments, its
 * environment (plus LD_PRELOAD, and DSHM_SERVER when --server is given)
 * and its exit status, since dshm-run becomes the program (execvp).
 * Children the program starts inherit LD_PRELOAD, so they are served
 * too, as the kernel serves a process's children.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRELOAD_NAME "libdshm-preload.so"
#ifndef DSHM_LIBDIR
#define DSHM_LIBDIR "/usr/local/lib"
#endif

static void
usage(FILE *f)
{
	fprintf(f, "usage: dshm-run [--server ADDR] [--] PROGRAM [ARG...]\n"
		   "Runs PROGRAM with its shmget, shmat, shmdt and shmctl served by dshmd.\n"
		   "  --server ADDR  the server (HOST:PORT, [V6]:PORT, unix:PATH); default\n"
		   "                 $DSHM_SERVER, else the default Unix socket\n"
		   "  --version      print the version and exit\n"
		   "The library is $DSHM_PRELOAD, else " PRELOAD_NAME " beside dshm-run or in\n"
		   "../lib from it, else " DSHM_LIBDIR "/" PRELOAD_NAME ".\n");
}

static bool
readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* Where the preload library is: see usage().  False when none is found. */
static bool
find_preload(char *out, size_t len)
{
	const char *env = getenv("DSHM_PRELOAD");
	char self[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		if (realpath(env, out) == NULL && snprintf(out, len, "%s", env) >= (int)len)
			return false;
		return readable(out);
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		snprintf(dir, sizeof(dir), "%s", dirname(self));
		/* The build tree keeps both in one directory; an install puts bin/ beside lib/. */
		if (snprintf(out, len, "%s/" PRELOAD_NAME, dir) < (int)len && readable(out))
			return true;
		if (snprintf(out, len, "%s/../lib/" PRELOAD_NAME, dir) < (int)len && readable(out) &&
		    realpath(out, dir) != NULL) {
			snprintf(out, len, "%s", dir);
			return true;
		}
	}
	snprintf(out, len, "%s/" PRELOAD_NAME, DSHM_LIBDIR);
	return readable(out);
}

/* LD_PRELOAD with lib first: the program's own preloads still follow it. */
static bool
set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *value;
	int rc;

	if (old == NULL || old[0] == '\0')
		return setenv("LD_PRELOAD", lib, 1) == 0;
	if (asprintf(&value, "%s:%s", lib, old) < 0)
		return false;
	rc = setenv("LD_PRELOAD", value, 1);
	free(value);
	return rc == 0;
}

int
main(int argc, char **argv)
{
	char lib[PATH_MAX];
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--server") == 0 && i + 1 < argc) {
			if (setenv("DSHM_SERVER", argv[i + 1], 1) != 0) {
				perror("dshm-run: setenv");
				return 125;
			}
			i += 2;
		} else if (strncmp(argv[i], "--server=", 9) == 0) {
			if (setenv("DSHM_SERVER", argv[i] + 9, 1) != 0) {
				perror("dshm-run: setenv");
				return 125;
			}
			i++;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("dshm-run %s\n", DSHM_VERSION);
			return 0;
		} else {
			fprintf(stderr, "dshm-run: unknown option %s\n", argv[i]);
			usage(stderr);
			return 125;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 125;
	}
	if (!find_preload(lib, sizeof(lib))) {
		fprintf(stderr, "dshm-run: %s: %s (set $DSHM_PRELOAD to the library's path)\n", lib,
			strerror(errno));
		return 125;
	}
	if (!set_preload(lib)) {
		perror("dshm-run: setenv(LD_PRELOAD)");
		return 125;
	}
	execvp(argv[i], argv + i);
	/* As env(1) and the shells say it: 127 not found, 126 found but not runnable. */
	fprintf(stderr, "dshm-run: %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
