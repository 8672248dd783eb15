/*
 * perms.c — (run as root) the calls check the caller's ids of the
 * moment, as the kernel does.  A child that setuid()s to nobody is
 * refused root's 0600 segment; the parent seteuid()s to nobody, is
 * refused likewise, still detaches what it attached as root, and is
 * root again after seteuid(0).
 */
#include "common.h"

#define NOBODY 65534

static void
try_as(const char *who, key_t key, int id)
{
	struct shmid_ds ds;
	int r;

	errno = 0;
	r = shmget(key, 0, 0400);
	printf("%s: shmget(0400) %s\n", who, r < 0 ? errno_name(errno) : "ok");
	errno = 0;
	r = shmctl(id, IPC_STAT, &ds);
	printf("%s: IPC_STAT %s\n", who, r < 0 ? errno_name(errno) : "ok");
	errno = 0;
	printf("%s: shmat %s\n", who, shmat(id, NULL, 0) == (void *)-1 ? errno_name(errno) : "ok");
	errno = 0;
	r = shmctl(id, IPC_RMID, NULL);
	printf("%s: IPC_RMID %s\n", who, r < 0 ? errno_name(errno) : "ok");
}

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	char how[32], *p;
	int id, status;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (geteuid() != 0) {
		printf("needs root\n");
		return 0;
	}
	if ((id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600)) < 0)
		die("shmget");
	if ((p = shmat(id, NULL, 0)) == (void *)-1)
		die("shmat");
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			die("setuid");
		try_as("child after setuid", key, id);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	printf("child %s\n", ended(status, how, sizeof(how)));
	if (setegid(NOBODY) != 0 || seteuid(NOBODY) != 0)
		die("seteuid");
	try_as("parent after seteuid", key, id);
	strcpy(p, "still writable");
	printf("parent after seteuid: shmdt %s\n", shmdt(p) == 0 ? "ok" : errno_name(errno));
	if (seteuid(0) != 0 || setegid(0) != 0)
		die("seteuid(0)");
	printf("root again: nattch %ld\n", nattch(id));
	printf("root again: IPC_RMID %s\n", shmctl(id, IPC_RMID, NULL) == 0 ? "ok" : errno_name(errno));
	return 0;
}
