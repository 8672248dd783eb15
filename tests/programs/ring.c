/*
 * ring.c — a producer and a consumer process pass 200000 numbers through
 * a ring of 64 slots in one segment.  Nothing but the memory connects
 * them: head and tail are C11 atomics (release stores, acquire loads),
 * and each side spins on the other's index.  The consumer checks the
 * order and prints the count and the sum.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"

#define SLOTS 64
#define ITEMS 200000

struct ring {
	_Atomic uint64_t head; /* next slot the producer fills */
	char pad[56];
	_Atomic uint64_t tail; /* next slot the consumer empties */
	char pad2[56];
	uint64_t slot[SLOTS];
};

static int
consume(struct ring *r)
{
	uint64_t sum = 0, out_of_order = 0;
	long long deadline = now_ms() + WAIT_MS;

	for (uint64_t i = 0; i < ITEMS; i++) {
		while (atomic_load_explicit(&r->head, memory_order_acquire) == i)
			if (now_ms() > deadline) {
				printf("consumer: stuck at item %llu\n", (unsigned long long)i);
				return 1;
			}
		uint64_t v = r->slot[i % SLOTS];

		out_of_order += v != i * 3 + 1;
		sum += v;
		atomic_store_explicit(&r->tail, i + 1, memory_order_release);
	}
	printf("consumer: %d items, sum %llu, %llu out of order\n", ITEMS,
	       (unsigned long long)sum, (unsigned long long)out_of_order);
	return 0;
}

static void
produce(struct ring *r)
{
	long long deadline = now_ms() + WAIT_MS;

	for (uint64_t i = 0; i < ITEMS; i++) {
		while (i - atomic_load_explicit(&r->tail, memory_order_acquire) >= SLOTS)
			if (now_ms() > deadline) {
				printf("producer: stuck at item %llu\n", (unsigned long long)i);
				return;
			}
		r->slot[i % SLOTS] = i * 3 + 1;
		atomic_store_explicit(&r->head, i + 1, memory_order_release);
	}
}

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	struct ring *r;
	char how[32];
	int id, status;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	if ((id = shmget(key, sizeof(struct ring), IPC_CREAT | IPC_EXCL | 0600)) < 0)
		die("shmget");
	if ((r = shmat(id, NULL, 0)) == (void *)-1)
		die("shmat");
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0)
		_exit(consume(r));
	produce(r);
	waitpid(pid, &status, 0);
	printf("producer: %d items; consumer %s\n", ITEMS, ended(status, how, sizeof(how)));
	if (shmdt(r) != 0 || shmctl(id, IPC_RMID, NULL) != 0)
		die("shmdt/IPC_RMID");
	return 0;
}
