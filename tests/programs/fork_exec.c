/*
 * fork_exec.c — attachments across fork, exec and exit.  A forked child
 * inherits the attachment at the same address and shares its pages (and
 * counts in shm_nattch); exec drops it, and the new program attaches the
 * segment by key on its own; its exit detaches that, before the parent's
 * waitpid returns.  The parent sees every store the others made.
 *
 *   fork_exec KEY            the parent
 *   fork_exec KEY exec W R   the program the child execs (W, R: its pipes to and
 *                            from the parent)
 */
#include "common.h"

static void
tell(int fd)
{
	if (write(fd, "", 1) != 1)
		die("write(pipe)");
}

static void
await_word(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		die("read(pipe)");
}

/* After exec: a program that knows nothing of its parent's attachment. */
static int
execed(key_t key, int to_parent, int from_parent)
{
	char *p;
	int id;

	if ((id = shmget(key, 0, 0)) < 0 || (p = shmat(id, NULL, 0)) == (void *)-1)
		die("exec'd: shmget/shmat");
	printf("exec'd program sees: \"%s\" and \"%s\"\n", p, p + 64);
	strcpy(p + 128, "written after exec");
	tell(to_parent);
	await_word(from_parent); /* the parent has counted us */
	return 0; /* exit detaches */
}

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	int to_parent[2], to_child[2], id, status;
	char how[32], wfd[16], rfd[16];
	pid_t pid;
	char *p;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 5 && strcmp(argv[2], "exec") == 0)
		return execed(key, atoi(argv[3]), atoi(argv[4]));
	if ((id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600)) < 0)
		die("shmget");
	if ((p = shmat(id, NULL, 0)) == (void *)-1)
		die("shmat");
	strcpy(p, "written by the parent");
	printf("after shmat: nattch %ld\n", nattch(id));
	if (pipe(to_parent) != 0 || pipe(to_child) != 0)
		die("pipe");
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		close(to_parent[0]);
		close(to_child[1]);
		printf("child sees at the same address: \"%s\"\n", p);
		strcpy(p + 64, "written by the child");
		tell(to_parent[1]);
		/* Once the parent has looked, it becomes another program. */
		await_word(to_child[0]);
		snprintf(wfd, sizeof(wfd), "%d", to_parent[1]);
		snprintf(rfd, sizeof(rfd), "%d", to_child[0]);
		execl(argv[0], argv[0], argv[1], "exec", wfd, rfd, (char *)NULL);
		die("execl");
	}
	close(to_parent[1]);
	close(to_child[0]);
	await_word(to_parent[0]);
	/* fork counted the child's inherited attachment before it returned. */
	printf("after fork: nattch %ld, the child wrote \"%s\"\n", nattch(id), p + 64);
	tell(to_child[1]);
	await_word(to_parent[0]);
	/* exec dropped the inherited attachment; the new program made its own. */
	printf("after exec and the new program's shmat: nattch %ld\n", await_nattch(id, 2));
	tell(to_child[1]);
	waitpid(pid, &status, 0);
	/* Its exit detached it before waitpid returned. */
	printf("the new program %s; nattch %ld; it wrote \"%s\"\n", ended(status, how, sizeof(how)),
	       nattch(id), p + 128);
	if (shmdt(p) != 0)
		die("shmdt");
	printf("after shmdt: nattch %ld\n", nattch(id));
	if (shmctl(id, IPC_RMID, NULL) != 0)
		die("IPC_RMID");
	return 0;
}
