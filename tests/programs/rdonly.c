/*
 * rdonly.c — SHM_RDONLY: the attachment reads what others write, a store
 * into it kills the storing process with SIGSEGV, and mprotect cannot
 * make it writable (EACCES).
 */
#include <signal.h>
#include <sys/mman.h>

#include "common.h"

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	char how[32], *rw, *ro;
	int id, status;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	if ((id = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0640)) < 0)
		die("shmget");
	if ((rw = shmat(id, NULL, 0)) == (void *)-1 || (ro = shmat(id, NULL, SHM_RDONLY)) == (void *)-1)
		die("shmat");
	strcpy(rw + 4096, "written through the read-write attachment");
	printf("read-only attachment reads: \"%s\"\n", ro + 4096);
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		ro[10] = 'x';
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("a store into it: %s\n", ended(status, how, sizeof(how)));
	errno = 0;
	status = mprotect(ro, 4096, PROT_READ | PROT_WRITE);
	printf("mprotect(PROT_WRITE): %d %s\n", status, errno_name(errno));
	/* The killed child's attachments stop counting when its server sees it gone (docs/SEGMENTS.md). */
	printf("still reads: \"%s\"; nattch %ld\n", ro + 4096, await_nattch(id, 2));
	if (shmdt(ro) != 0 || shmdt(rw) != 0 || shmctl(id, IPC_RMID, NULL) != 0)
		die("shmdt/IPC_RMID");
	return 0;
}
