/*
 * test_lock.c — robust process-shared locks: the holder is recorded, a
 * lock whose holder died is handed on only after the repair function ran,
 * once, in the new holder, and a lock whose holder is stopped costs a
 * bounded wait (ETIMEDOUT), not a hang.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "lock.h"

struct shared {
	struct dshm_lock lock;
	int repairs_seen;
	int holder_during_repair;
};

static struct shared *
shared_lock(void)
{
	struct shared *s = shared_zeroed(sizeof(*s));

	assert_int_equal(lock_init(&s->lock), 0);
	return s;
}

static void
count_repair(void *ctx)
{
	struct shared *s = ctx;

	s->repairs_seen++;
	s->holder_during_repair = atomic_load(&s->lock.holder);
}

/* A child takes the lock and leaves without releasing it (how = exit or kill). */
static void
die_holding(struct shared *s, bool by_kill)
{
	int status;
	pid_t pid = fork_child();

	if (pid == 0) {
		if (lock_acquire(&s->lock, NULL, NULL) != 0)
			_exit(1);
		if (by_kill)
			kill(getpid(), SIGKILL);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(by_kill ? WIFSIGNALED(status) : WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_acquire_records_the_holder_and_release_clears_it(void **state)
{
	struct shared *s = shared_lock();

	(void)state;
	assert_int_equal(atomic_load(&s->lock.holder), 0);
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), 0);
	assert_int_equal(atomic_load(&s->lock.holder), getpid());
	lock_release(&s->lock);
	assert_int_equal(atomic_load(&s->lock.holder), 0);
	assert_int_equal(s->repairs_seen, 0); /* nobody died: no repair */
	assert_int_equal(atomic_load(&s->lock.repairs), 0);
	munmap(s, sizeof(*s));
}

static void
test_lock_of_a_killed_holder_is_repaired_once_in_the_new_holder(void **state)
{
	struct shared *s = shared_lock();

	(void)state;
	die_holding(s, true);
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), 0);
	assert_int_equal(s->repairs_seen, 1);
	assert_int_equal(s->holder_during_repair, getpid());
	assert_int_equal(atomic_load(&s->lock.repairs), 1);
	lock_release(&s->lock);
	/* consistent again: the next taker repairs nothing */
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), 0);
	assert_int_equal(s->repairs_seen, 1);
	lock_release(&s->lock);
	munmap(s, sizeof(*s));
}

static void
test_lock_of_a_holder_that_exited_is_repaired_too(void **state)
{
	struct shared *s = shared_lock();

	(void)state;
	die_holding(s, false);
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), 0);
	assert_int_equal(s->repairs_seen, 1);
	lock_release(&s->lock);
	munmap(s, sizeof(*s));
}

static void
test_lock_of_a_dead_holder_without_repair_function_is_taken(void **state)
{
	struct shared *s = shared_lock();

	(void)state;
	die_holding(s, true);
	assert_int_equal(lock_acquire(&s->lock, NULL, NULL), 0);
	assert_int_equal(atomic_load(&s->lock.repairs), 1);
	lock_release(&s->lock);
	assert_int_equal(lock_acquire(&s->lock, NULL, NULL), 0);
	lock_release(&s->lock);
	munmap(s, sizeof(*s));
}

static void
die_in_repair(void *ctx)
{
	(void)ctx;
	kill(getpid(), SIGKILL);
}

static void
test_a_repairer_that_dies_leaves_the_repair_to_the_next_taker(void **state)
{
	struct shared *s = shared_lock();
	int status;
	pid_t pid;

	(void)state;
	die_holding(s, true);
	pid = fork_child();
	if (pid == 0) {
		lock_acquire(&s->lock, die_in_repair, NULL);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), 0);
	assert_int_equal(s->repairs_seen, 1);
	lock_release(&s->lock);
	munmap(s, sizeof(*s));
}

static void
test_lock_excludes_another_process(void **state)
{
	struct shared *s = shared_lock();
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(lock_acquire(&s->lock, NULL, NULL), 0);
	pid = fork_child();
	if (pid == 0) {
		/* blocks until the parent releases, then sees the parent's write */
		if (lock_acquire(&s->lock, NULL, NULL) != 0)
			_exit(1);
		_exit(s->repairs_seen == 42 ? 0 : 2);
	}
	usleep(100 * 1000);
	s->repairs_seen = 42;
	lock_release(&s->lock);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	munmap(s, sizeof(*s));
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_a_lock_held_by_a_stopped_process_times_out_until_its_holder_is_killed(void **state)
{
	struct shared *s = shared_lock();
	int ready[2], status;
	int64_t t0, waited;
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	pid = fork_child();
	if (pid == 0) {
		if (lock_acquire(&s->lock, NULL, NULL) != 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));

	/* Stopped is not dead: the lock is still held, and the wait ends at the bound. */
	lock_set_wait_ms(2000);
	t0 = now_ms();
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), ETIMEDOUT);
	waited = now_ms() - t0;
	assert_true(waited >= 1900);
	assert_int_equal(atomic_load(&s->lock.holder), pid);
	assert_int_equal(s->repairs_seen, 0);
	/* The same lock again, still not taken since: a short wait, not the whole bound again. */
	t0 = now_ms();
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), ETIMEDOUT);
	assert_true(now_ms() - t0 < 1500);

	/* Killed (as the master kills a stalled worker): the next taker repairs and gets it. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(lock_acquire(&s->lock, count_repair, s), 0);
	assert_int_equal(s->repairs_seen, 1);
	assert_int_equal(s->holder_during_repair, getpid());
	lock_release(&s->lock);
	/* Taken once: the next wait on it is the whole bound again (here: none, uncontended). */
	assert_int_equal(lock_acquire(&s->lock, NULL, NULL), 0);
	lock_release(&s->lock);
	lock_set_wait_ms(0);
	close(ready[0]);
	close(ready[1]);
	munmap(s, sizeof(*s));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire_records_the_holder_and_release_clears_it),
		cmocka_unit_test(test_lock_of_a_killed_holder_is_repaired_once_in_the_new_holder),
		cmocka_unit_test(test_lock_of_a_holder_that_exited_is_repaired_too),
		cmocka_unit_test(test_lock_of_a_dead_holder_without_repair_function_is_taken),
		cmocka_unit_test(test_a_repairer_that_dies_leaves_the_repair_to_the_next_taker),
		cmocka_unit_test(test_lock_excludes_another_process),
		cmocka_unit_test(test_a_lock_held_by_a_stopped_process_times_out_until_its_holder_is_killed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
