/*
 * paging_demo.c — drives a dshmd through the seed-000 paging API with
 * several client processes at once.
 *
 *   paging_demo [ADDR [OTHER_ADDR [NPROCS]]]
 *
 * Each client process creates its own paging process, writes a pattern
 * that runs across page boundaries, reads it back over a second
 * connection (to OTHER_ADDR when given: the other transport), grows the
 * process, checks the errors of out-of-range requests, and finalizes it.
 * Exits 0 when every client saw exactly what it expected.
 *
 * Build against an installed libdshm:
 *   cc paging_demo.c $(pkg-config --cflags --libs dshm) -o paging_demo
 */
#include <dshm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "client %d: ", (int)getpid());           \
			fprintf(stderr, __VA_ARGS__);                            \
			fputc('\n', stderr);                                     \
			return 1;                                                \
		}                                                                \
	} while (0)

static int
client(const char *addr, const char *other, int pid)
{
	int fd = dshm_connect(addr), fd2 = dshm_connect(other);
	int frame, pages = 4;
	char *data;
	t_read_response *r;

	CHECK(fd >= 0 && fd2 >= 0, "cannot connect to %s / %s", addr ? addr : "default",
	      other ? other : "default");
	frame = handshake(&fd, NULL);
	CHECK(frame > 0, "handshake: %s", dshm_strerror(frame));
	CHECK(memory_init_process(fd, pid, pages, NULL) == SUCCESS, "init");

	/* A write that starts mid-page and runs over two page boundaries. */
	int size = frame * 2 + frame / 2, offset = frame / 4;
	data = malloc((size_t)size);
	for (int i = 0; i < size; i++)
		data[i] = (char)(pid * 31 + i);
	CHECK(memory_write(fd, pid, 0, offset, size, size, data, NULL) == SUCCESS, "write");

	r = memory_read(fd2, pid, 0, offset, size, NULL);
	CHECK(r != NULL && r->exec_code == SUCCESS && r->buffer_size == size &&
		      memcmp(r->buffer, data, (size_t)size) == 0,
	      "read back over the second connection");
	free(r->buffer);
	free(r);

	/* Out of range: nothing is written. */
	CHECK(memory_write(fd, pid, pages - 1, 1, frame, frame, data, NULL) == SEGMENTATION_FAULT,
	      "write past the last page");
	CHECK(memory_write(fd, pid, pages, 0, 1, 1, data, NULL) == PAGE_FAULT, "page fault");
	CHECK(memory_write(fd, pid, 0, frame, 1, 1, data, NULL) == OUT_OF_FRAME, "offset");

	/* Grow: the new page reads as zeros and takes writes. */
	CHECK(memory_assign_pages(fd2, pid, 1, NULL) == SUCCESS, "assign");
	r = memory_read(fd, pid, pages, 0, frame, NULL);
	CHECK(r != NULL && r->exec_code == SUCCESS, "read new page");
	for (int i = 0; i < frame; i++)
		CHECK(((char *)r->buffer)[i] == 0, "new page not zero at %d", i);
	free(r->buffer);
	free(r);

	CHECK(memory_finalize_process(fd, pid, NULL) == SUCCESS, "finalize");
	CHECK(memory_write(fd, pid, 0, 0, 1, 1, data, NULL) == DSHM_NO_SUCH_PROCESS,
	      "write after finalize");
	free(data);
	close(fd);
	close(fd2);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : NULL;
	const char *other = argc > 2 ? argv[2] : addr;
	int n = argc > 3 ? atoi(argv[3]) : 8, failed = 0;

	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p == 0)
			_exit(client(addr, other, 1000 + i));
		if (p < 0) {
			perror("fork");
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		int st;

		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	printf("paging_demo: %d of %d client processes succeeded\n", n - failed, n);
	return failed == 0 ? 0 : 1;
}
