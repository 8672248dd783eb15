/*
 * preload.c — libdshm-preload.so: the C library's shmget, shmat, shmdt
 * and shmctl, served by dshmd, for an unmodified program that dshm-run(1)
 * starts with this library in LD_PRELOAD.
 *
 * Each call is libdshm's (the server is dshm_connect(NULL)'s: $DSHM_SERVER,
 * else the default socket), with the kernel's arguments, results and
 * errno; shmat attaches coherently (DSHM_SHM_COHERENT), so the program's
 * plain loads and stores, atomics and process-shared mutexes behave as on
 * a kernel segment.  Only these four names, and the waits of
 * preload_sync.c, are exported (preload.map):
 * the rest of libdshm inside stays private, so a program linked with
 * libdshm too keeps its own copy of it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include "dshm.h"
#include "shm_internal.h"

int
shmget(key_t key, size_t size, int shmflg)
{
	return dshm_shmget(key, size, shmflg);
}

void *
shmat(int shmid, const void *shmaddr, int shmflg)
{
	return dshm_shmat(shmid, shmaddr, shmflg | DSHM_SHM_COHERENT);
}

int
shmdt(const void *shmaddr)
{
	return dshm_shmdt(shmaddr);
}

int
shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
	return dshm_shmctl(shmid, cmd, buf);
}

/*
 * A read-only attachment cannot be made writable, as with the kernel
 * (EACCES): its mapping is a private one (see shm_attach.c), which
 * mprotect alone would let write, into private copies of its pages.
 */
int
mprotect(void *addr, size_t len, int prot)
{
	static int (*real)(void *, size_t, int);

	if ((prot & PROT_WRITE) && shm_in_rdonly(addr, len)) {
		errno = EACCES;
		return -1;
	}
	if (real == NULL)
		real = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "mprotect");
	return real(addr, len, prot);
}
