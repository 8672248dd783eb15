/*
 * xring.c KEY ROLE — a ring of 16 slots between two hosts: role 0 makes
 * the segment and produces 3000 numbers, role 1 (on the other host)
 * consumes them, checking the order; the only link between them is the
 * memory, with C11 release stores and acquire loads, each side spinning
 * on the other's index.  Role 0 removes the segment once role 1 is done.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"

#define SLOTS 16
#define ITEMS 3000

struct ring {
	_Atomic uint64_t head, tail;
	long consumer_done;
	uint64_t slot[SLOTS];
};

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	int role = role_arg(argc, argv), id;
	struct ring *r = role_attach(key, sizeof(struct ring), role, &id);
	long long deadline = now_ms() + WAIT_MS;
	uint64_t sum = 0, wrong = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	for (uint64_t i = 0; i < ITEMS; i++) {
		if (role == 0) {
			while (i - atomic_load_explicit(&r->tail, memory_order_acquire) >= SLOTS)
				if (now_ms() > deadline)
					die("producer stuck");
			r->slot[i % SLOTS] = i * 7 + 3;
			atomic_store_explicit(&r->head, i + 1, memory_order_release);
		} else {
			while (atomic_load_explicit(&r->head, memory_order_acquire) <= i)
				if (now_ms() > deadline)
					die("consumer stuck");
			uint64_t v = r->slot[i % SLOTS];

			wrong += v != i * 7 + 3;
			sum += v;
			atomic_store_explicit(&r->tail, i + 1, memory_order_release);
		}
	}
	if (role == 1) {
		printf("role 1: consumed %d items, sum %llu, %llu out of order\n", ITEMS,
		       (unsigned long long)sum, (unsigned long long)wrong);
		__atomic_store_n(&r->consumer_done, 1, __ATOMIC_RELEASE);
		shmdt(r);
		return 0;
	}
	printf("role 0: produced %d items; the consumer %s\n", ITEMS,
	       await_at_least(&r->consumer_done, 1) ? "finished" : "never finished");
	if (shmdt(r) != 0 || shmctl(id, IPC_RMID, NULL) != 0)
		die("shmdt/IPC_RMID");
	return 0;
}
