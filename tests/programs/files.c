/*
 * files.c — a segment's memory as a system call's buffer: read(2) from a
 * file into it, write(2) from it to another file, recv(2) into it and
 * send(2) from it over a socket pair, in two processes.
 */
#include <fcntl.h>
#include <sys/socket.h>

#include "common.h"

#define SIZE (3 * 4096 + 123)

static unsigned
checksum(const unsigned char *p, size_t n)
{
	unsigned h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	char in[] = "/tmp/dshm-files-in.XXXXXX", out[] = "/tmp/dshm-files-out.XXXXXX";
	unsigned char *src = malloc(SIZE), *back = malloc(SIZE), *p;
	int id, fd, sv[2], status;
	char how[32];
	ssize_t n;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	for (size_t i = 0; i < SIZE; i++)
		src[i] = (unsigned char)(i * 7 + i / 4096);
	if ((fd = mkstemp(in)) < 0 || write(fd, src, SIZE) != SIZE || close(fd) != 0)
		die("the input file");
	if ((fd = mkstemp(out)) < 0 || close(fd) != 0)
		die("the output file");
	if ((id = shmget(key, 2 * SIZE, IPC_CREAT | IPC_EXCL | 0600)) < 0)
		die("shmget");
	if ((p = shmat(id, NULL, 0)) == (void *)-1)
		die("shmat");
	/* The kernel writes into the segment. */
	if ((fd = open(in, O_RDONLY)) < 0)
		die("open");
	n = read(fd, p, SIZE);
	close(fd);
	printf("read(2) into the segment: %zd bytes, %s\n", n,
	       n == SIZE && memcmp(p, src, SIZE) == 0 ? "as in the file" : "DIFFERENT");
	/* Another process hands the kernel the segment to read from. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		die("socketpair");
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		close(sv[0]);
		if ((fd = open(out, O_WRONLY | O_TRUNC)) < 0)
			_exit(3);
		n = write(fd, p, SIZE);
		close(fd);
		if (send(sv[1], p, SIZE, 0) != SIZE)
			_exit(4);
		_exit(n == SIZE ? 0 : 5);
	}
	close(sv[1]);
	/* recv(2) into the segment's second half. */
	n = 0;
	while (n < SIZE) {
		ssize_t k = recv(sv[0], p + SIZE + n, SIZE - n, 0);

		if (k <= 0)
			break;
		n += k;
	}
	waitpid(pid, &status, 0);
	printf("child %s; recv(2) into the segment: %zd bytes, checksum %s\n",
	       ended(status, how, sizeof(how)), n,
	       checksum(p + SIZE, SIZE) == checksum(src, SIZE) ? "matches" : "DIFFERS");
	/* The child's write(2) from the segment reached its file. */
	memset(back, 0, SIZE);
	if ((fd = open(out, O_RDONLY)) < 0 || read(fd, back, SIZE) != SIZE)
		die("reread");
	close(fd);
	printf("the file the child wrote from the segment: %s\n",
	       memcmp(back, src, SIZE) == 0 ? "as the input" : "DIFFERENT");
	unlink(in);
	unlink(out);
	close(sv[0]);
	free(src);
	free(back);
	if (shmdt(p) != 0 || shmctl(id, IPC_RMID, NULL) != 0)
		die("shmdt/IPC_RMID");
	return 0;
}
