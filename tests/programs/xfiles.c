/*
 * xfiles.c KEY ROLE — the kernel writes into a segment page another host
 * holds: role 0 fills the segment's first page and waits; role 1 (on the
 * other host) read(2)s a file straight into the second and third pages,
 * which it never touched before, and write(2)s the first page to a pipe
 * it reads back; role 0 then checks what landed.
 */
#include <fcntl.h>

#include "common.h"

#define PAGE 4096

struct shared {
	long filled, read_done;
	char pad[PAGE - 2 * sizeof(long)];
	unsigned char pages[3 * PAGE]; /* pages 1, 2 and 3 of the segment */
};

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
	int role = role_arg(argc, argv), id, fd, pfd[2];
	struct shared *s = role_attach(key, sizeof(struct shared), role, &id);
	static unsigned char src[2 * PAGE], back[PAGE];
	char path[] = "/tmp/dshm-xfiles.XXXXXX";
	ssize_t n;

	setvbuf(stdout, NULL, _IONBF, 0);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(i * 13 + 5);
	if (role == 0) {
		for (size_t i = 0; i < PAGE; i++)
			s->pages[i] = (unsigned char)(i ^ 0x5a);
		__atomic_store_n(&s->filled, 1, __ATOMIC_RELEASE);
		await_at_least(&s->read_done, 1);
		printf("role 0: pages 2 and 3 hold %s\n",
		       checksum(s->pages + PAGE, 2 * PAGE) == checksum(src, sizeof(src)) ? "the file's bytes"
										 : "OTHER BYTES");
		if (shmdt(s) != 0 || shmctl(id, IPC_RMID, NULL) != 0)
			die("shmdt/IPC_RMID");
		return 0;
	}
	await_at_least(&s->filled, 1);
	if ((fd = mkstemp(path)) < 0 || write(fd, src, sizeof(src)) != (ssize_t)sizeof(src))
		die("the file");
	lseek(fd, 0, SEEK_SET);
	n = read(fd, s->pages + PAGE, 2 * PAGE); /* into pages this host does not hold yet */
	close(fd);
	unlink(path);
	printf("role 1: read(2) into the segment: %zd bytes\n", n);
	if (pipe(pfd) != 0 || write(pfd[1], s->pages, PAGE) != PAGE || read(pfd[0], back, PAGE) != PAGE)
		die("the pipe");
	printf("role 1: write(2) from the segment: %s\n",
	       back[0] == 0x5a && back[PAGE - 1] == (unsigned char)((PAGE - 1) ^ 0x5a) ? "role 0's bytes"
										   : "OTHER BYTES");
	__atomic_store_n(&s->read_done, 1, __ATOMIC_RELEASE);
	shmdt(s);
	return 0;
}
