/*
 * shm_example.c — System V shared memory through dshmd: a parent and a
 * child process share one segment and take turns on it, the way the
 * kernel's shmget/shmat would let them, with dshm_sync marking when each
 * one's writes are published.
 *
 *   shm_example [ADDRESS]     (default: $DSHM_SERVER, else the local dshmd)
 *
 * The parent creates a segment, writes a greeting, and forks.  The child
 * (which inherits the attachment, as with the kernel) reads the greeting,
 * answers in the second half of the same page, and exits.  The parent
 * then sees the answer, prints the segment's IPC_STAT, and removes it.
 * Exits 0 when everything worked.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dshm.h>

#define SIZE 4096

static int
die(const char *what)
{
	fprintf(stderr, "shm_example: %s: %s\n", what, strerror(errno));
	return 1;
}

/* The child's turn: read what the parent published, answer beside it. */
static int
child(char *shm, int to_parent)
{
	char done = 'd';

	if (dshm_sync(shm) != 0)
		return 1;
	printf("child  %d read:  \"%s\"\n", (int)getpid(), shm);
	snprintf(shm + SIZE / 2, SIZE / 2, "hello back from process %d", (int)getpid());
	/* Published at the sync; a normal exit would publish it too. */
	if (dshm_sync(shm) != 0 || write(to_parent, &done, 1) != 1)
		return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct shmid_ds ds;
	int id, status, pipefd[2];
	char *shm, c;
	bool answered;
	pid_t pid;

	if (argc > 1 && dshm_set_server(argv[1]) != 0)
		return die("dshm_set_server");
	/* A private segment: nobody else can find it by key. */
	if ((id = dshm_shmget(IPC_PRIVATE, SIZE, IPC_CREAT | 0600)) < 0)
		return die("dshm_shmget");
	if ((shm = dshm_shmat(id, NULL, 0)) == (void *)-1)
		return die("dshm_shmat");
	snprintf(shm, SIZE / 2, "hello from process %d", (int)getpid());
	if (dshm_sync(shm) != 0)
		return die("dshm_sync");
	printf("parent %d wrote: \"%s\" to segment %d\n", (int)getpid(), shm, id);

	if (pipe(pipefd) != 0)
		return die("pipe");
	if ((pid = fork()) < 0)
		return die("fork");
	if (pid == 0) {
		close(pipefd[0]);
		_exit(child(shm, pipefd[1]));
	}
	close(pipefd[1]);
	if (read(pipefd[0], &c, 1) != 1 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "shm_example: the child failed\n");
		return 1;
	}
	if (dshm_sync(shm) != 0)
		return die("dshm_sync");
	printf("parent %d read:  \"%s\"\n", (int)getpid(), shm + SIZE / 2);
	answered = strncmp(shm + SIZE / 2, "hello back", 10) == 0;

	if (dshm_shmctl(id, IPC_STAT, &ds) != 0)
		return die("dshm_shmctl(IPC_STAT)");
	printf("segment %d: %zu bytes, mode %03o, creator %d, last %d, attached %lu\n", id,
	       (size_t)ds.shm_segsz, ds.shm_perm.mode & 0777, (int)ds.shm_cpid, (int)ds.shm_lpid,
	       (unsigned long)ds.shm_nattch);

	if (dshm_shmdt(shm) != 0)
		return die("dshm_shmdt");
	if (dshm_shmctl(id, IPC_RMID, NULL) != 0)
		return die("dshm_shmctl(IPC_RMID)");
	return answered ? 0 : 1;
}
