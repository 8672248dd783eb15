/*
 * test_segments_diff.c — the System V-style calls (dshm_shmget, dshm_shmat,
 * dshm_shmdt, dshm_shmctl, dshm_sync) held to Linux's behaviour by
 * differential testing: each scenario runs once against the kernel's
 * shmget/shmat/shmdt/shmctl and once against a fresh dshmd, records what a
 * program can observe (return values, errno, the comparable IPC_STAT
 * fields, bytes seen through attachments, how children end) as lines of
 * text, and the two traces must be identical.  The kernel is the oracle:
 * no expectation here is written by hand, so the suite cannot drift from
 * what Linux really does.  Ids, keys, pids and times differ between runs,
 * so they are recorded only as relations ("id", "same id", "self",
 * "c<=a").  The last few tests have no kernel counterpart (IPC_INFO
 * limits, dshm_read, two clients writing one page) and check dshm alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"
#include "segdiff.h"

/* ---- scenarios: shmget ------------------------------------------------------ */

static void
scenario_shmget_private_always_creates(const struct backend *b, struct trace *tr, key_t key)
{
	int a, c, d;

	(void)key;
	a = do_get(b, tr, "private creat 0600", IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
	c = do_get(b, tr, "private 0600 (no IPC_CREAT)", IPC_PRIVATE, PAGE, 0600);
	d = do_get(b, tr, "private creat|excl 0600", IPC_PRIVATE, PAGE,
		   IPC_CREAT | IPC_EXCL | 0600);
	rec_same_id(tr, "first vs second", a, c);
	rec_same_id(tr, "second vs third", c, d);
	rec_same_id(tr, "first vs third", a, d);
	do_stat(b, tr, "first", a, "c", NULL);
	do_stat(b, tr, "second", c, "c", NULL);
}

static void
scenario_shmget_creat_creates_when_missing_and_finds_when_present(const struct backend *b,
								  struct trace *tr, key_t key)
{
	int a, c, d;

	a = do_get(b, tr, "K creat 0600", key, PAGE, IPC_CREAT | 0600);
	c = do_get(b, tr, "K creat 0600 again", key, PAGE, IPC_CREAT | 0600);
	d = do_get(b, tr, "K 0", key, PAGE, 0);
	rec_same_id(tr, "creat vs creat again", a, c);
	rec_same_id(tr, "creat vs lookup", a, d);
	do_stat(b, tr, "K", a, "c", NULL);
}

static void
scenario_shmget_excl_on_existing_key_is_eexist(const struct backend *b, struct trace *tr,
					       key_t key)
{
	int a;

	a = do_get(b, tr, "K creat|excl 0600", key, PAGE, IPC_CREAT | IPC_EXCL | 0600);
	do_get(b, tr, "K creat|excl 0600 again", key, PAGE, IPC_CREAT | IPC_EXCL | 0600);
	do_get(b, tr, "K creat|excl size 0", key, 0, IPC_CREAT | IPC_EXCL | 0600);
	do_stat(b, tr, "K still there", a, "c", NULL);
}

static void
scenario_shmget_missing_key_without_creat_is_enoent(const struct backend *b, struct trace *tr,
						    key_t key)
{
	do_get(b, tr, "missing K 0", key, PAGE, 0);
	do_get(b, tr, "missing K size 0", key, 0, 0);
	do_get(b, tr, "missing K 0600", key, PAGE, 0600);
	do_get(b, tr, "missing K still", key, 0, 0);
}

static void
scenario_shmget_excl_without_creat_is_ignored(const struct backend *b, struct trace *tr,
					      key_t key)
{
	int a, c;

	do_get(b, tr, "missing K excl", key, PAGE, IPC_EXCL | 0600);
	a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	c = do_get(b, tr, "existing K excl", key, PAGE, IPC_EXCL | 0600);
	rec_same_id(tr, "creat vs excl", a, c);
}

static void
scenario_shmget_size_rules(const struct backend *b, struct trace *tr, key_t key)
{
	int a, r;

	a = do_get(b, tr, "K creat 8192", key, 2 * PAGE, IPC_CREAT | 0600);
	do_get(b, tr, "K 8193", key, 2 * PAGE + 1, 0);
	do_get(b, tr, "K 9000 creat", key, 9000, IPC_CREAT | 0600);
	r = do_get(b, tr, "K 8192", key, 2 * PAGE, 0);
	rec_same_id(tr, "8192", a, r);
	r = do_get(b, tr, "K 4096", key, PAGE, 0);
	rec_same_id(tr, "4096", a, r);
	r = do_get(b, tr, "K 1", key, 1, 0);
	rec_same_id(tr, "1", a, r);
	r = do_get(b, tr, "K 0", key, 0, 0);
	rec_same_id(tr, "0", a, r);
	do_stat(b, tr, "K keeps its size", a, "c", NULL);
	do_get(b, tr, "K+1 creat size 0", key + 1, 0, IPC_CREAT | 0600);
	do_get(b, tr, "K+1 after failed create", key + 1, 0, 0);
	do_get(b, tr, "private size 0", IPC_PRIVATE, 0, IPC_CREAT | 0600);
}

static void
scenario_shmget_mode_is_the_low_nine_bits(const struct backend *b, struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat 0640", key, PAGE, IPC_CREAT | 0640);
	int c = do_get(b, tr, "K+1 0600|creat", key + 1, PAGE, 0600 | IPC_CREAT);
	int d = do_get(b, tr, "K+2 creat|excl 0777", key + 2, PAGE, IPC_CREAT | IPC_EXCL | 0777);
	int e = do_get(b, tr, "K+3 creat|noreserve 0404", key + 3, PAGE,
		       IPC_CREAT | SHM_NORESERVE | 0404);
	int p = do_get(b, tr, "private 0", IPC_PRIVATE, PAGE, IPC_CREAT);

	do_stat(b, tr, "0640", a, "c", NULL);
	do_stat(b, tr, "0600", c, "c", NULL);
	do_stat(b, tr, "0777", d, "c", NULL);
	do_stat(b, tr, "0404", e, "c", NULL);
	do_stat(b, tr, "private 0", p, "c", NULL);
}

static void
scenario_shmget_odd_size_is_kept_exactly(const struct backend *b, struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat 10000", key, 10000, IPC_CREAT | 0600);
	int r;
	char *p;

	do_stat(b, tr, "10000", a, "c", NULL);
	r = do_get(b, tr, "K 10000", key, 10000, 0);
	rec_same_id(tr, "10000", a, r);
	do_get(b, tr, "K 10001", key, 10001, 0);
	do_get(b, tr, "K 12288", key, 3 * PAGE, 0);
	p = do_at(b, tr, "K", a, NULL, 0);
	if (p == NULL)
		return;
	rec_zero(tr, "10000 bytes", p, 10000);
	p[0] = 1;
	p[9999] = 2;
	do_sync(b, tr, "K", p);
	rec_bytes(tr, "first", p, 1);
	rec_bytes(tr, "last", p + 9999, 1);
	do_dt(b, tr, "K", p);
}

/* ---- scenarios: contents and ids -------------------------------------------- */

static void
scenario_segment_is_zero_filled_on_creation(const struct backend *b, struct trace *tr,
					    key_t key)
{
	size_t size = 3 * PAGE + 100;
	int a = do_get(b, tr, "K creat", key, size, IPC_CREAT | 0600), c;
	char *p = do_at(b, tr, "K", a, NULL, 0);

	if (p == NULL)
		return;
	rec_zero(tr, "new segment", p, size);
	memset(p, 0xab, size);
	do_sync(b, tr, "K", p);
	do_dt(b, tr, "K", p);
	do_ctl(b, tr, "rmid K", a, IPC_RMID, NULL);
	/* A segment made after one that was written is zero-filled too. */
	c = do_get(b, tr, "K creat again", key, size, IPC_CREAT | 0600);
	p = do_at(b, tr, "K again", c, NULL, 0);
	if (p == NULL)
		return;
	rec_zero(tr, "segment made after a written one", p, size);
	do_dt(b, tr, "K again", p);
}

static void
scenario_stale_id_after_rmid_is_einval(const struct backend *b, struct trace *tr, key_t key)
{
	struct shmid_ds ds;
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600), c;

	do_ctl(b, tr, "rmid K", a, IPC_RMID, NULL);
	do_stat(b, tr, "old id", a, "c", NULL);
	do_at(b, tr, "old id", a, NULL, 0);
	do_at(b, tr, "old id rdonly", a, NULL, SHM_RDONLY);
	do_ctl(b, tr, "rmid old id", a, IPC_RMID, NULL);
	memset(&ds, 0, sizeof(ds));
	do_ctl(b, tr, "set old id", a, IPC_SET, &ds);
	do_get(b, tr, "K after rmid", key, PAGE, 0);
	c = do_get(b, tr, "K creat again", key, PAGE, IPC_CREAT | 0600);
	rec_same_id(tr, "old vs new", a, c);
	do_stat(b, tr, "new", c, "c", NULL);
}

/* ---- scenarios: IPC_STAT and IPC_SET ----------------------------------------- */

static void
scenario_ipc_stat_after_create_attach_and_detach(const struct backend *b, struct trace *tr,
						 key_t key)
{
	int a = do_get(b, tr, "K creat 0640", key, 5000, IPC_CREAT | 0640);
	char *p;

	do_stat(b, tr, "after create", a, "c<=a<=d", NULL);
	p = do_at(b, tr, "K", a, NULL, 0);
	do_stat(b, tr, "after shmat", a, "c<=a<=d", NULL);
	if (p != NULL)
		do_dt(b, tr, "K", p);
	do_stat(b, tr, "after shmdt", a, "c<=a<=d", NULL);
	p = do_at(b, tr, "K rdonly", a, NULL, SHM_RDONLY);
	do_stat(b, tr, "after second shmat", a, "c<=d<=a", NULL);
	if (p != NULL)
		do_dt(b, tr, "K rdonly", p);
	do_stat(b, tr, "after second shmdt", a, "c<=a<=d", NULL);
}

static void
scenario_ipc_set_changes_owner_and_mode_only(const struct backend *b, struct trace *tr,
					     key_t key)
{
	struct shmid_ds ds;
	int a = do_get(b, tr, "K creat 0600", key, PAGE, IPC_CREAT | 0600);
	char *p = do_at(b, tr, "K", a, NULL, 0);

	if (p != NULL)
		do_dt(b, tr, "K", p);
	if (do_stat(b, tr, "before set", a, "c<=a<=d", &ds) != 0)
		return;
	ds.shm_perm.uid = 1234;
	ds.shm_perm.gid = 5678;
	ds.shm_perm.cuid = 4321;
	ds.shm_perm.cgid = 8765;
	ds.shm_perm.mode = 071640; /* only 0640 counts: no SHM_DEST, no SHM_LOCKED */
	ds.shm_perm.__key = key + 1;
	ds.shm_segsz = 1;
	ds.shm_cpid = 1;
	ds.shm_lpid = 1;
	ds.shm_nattch = 7;
	ds.shm_atime = ds.shm_dtime = ds.shm_ctime = 1;
	do_ctl(b, tr, "set uid 1234 gid 5678 mode 071640", a, IPC_SET, &ds);
	do_stat(b, tr, "after set", a, "a<=d<=c", NULL);
	do_get(b, tr, "K still found", key, PAGE, 0);
	do_get(b, tr, "K+1 not there", key + 1, PAGE, 0);
	ds.shm_perm.mode = 0777;
	do_ctl(b, tr, "set mode 0777", a, IPC_SET, &ds);
	do_stat(b, tr, "after second set", a, "a<=d<=c", NULL);
	/* IPC_RMID takes no buffer and ignores one. */
	do_ctl(b, tr, "rmid with a buffer", a, IPC_RMID, &ds);
	do_stat(b, tr, "after rmid", a, "c", NULL);
}

/* ---- scenarios: IPC_RMID while attached ---------------------------------------- */

static void
scenario_rmid_while_attached_marks_dest_and_frees_the_key(const struct backend *b,
							  struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat 0600", key, 2 * PAGE, IPC_CREAT | 0600), c, r;
	char *p = do_at(b, tr, "K", a, NULL, 0), *q, *s;
	struct shmid_ds ds;

	if (p == NULL)
		return;
	memcpy(p, "hello", 5);
	do_sync(b, tr, "before rmid", p);
	do_ctl(b, tr, "rmid K while attached", a, IPC_RMID, NULL);
	do_stat(b, tr, "after rmid", a, "c<=a", NULL);
	do_ctl(b, tr, "rmid K again", a, IPC_RMID, NULL);
	if (do_stat(b, tr, "after second rmid", a, "c<=a", &ds) == 0) {
		ds.shm_perm.mode = 0644;
		do_ctl(b, tr, "set mode 0644 after rmid", a, IPC_SET, &ds);
		do_stat(b, tr, "SHM_DEST stays", a, "a<=c", NULL);
	}
	do_get(b, tr, "K after rmid", key, PAGE, 0);
	c = do_get(b, tr, "K creat after rmid", key, PAGE, IPC_CREAT | 0600);
	rec_same_id(tr, "removed vs new", a, c);
	r = do_get(b, tr, "K finds the new one", key, 0, 0);
	rec_same_id(tr, "new vs lookup", c, r);

	/* The attachment still works. */
	memcpy(p + PAGE + 10, "world", 5);
	do_sync(b, tr, "after rmid", p);
	rec_bytes(tr, "old p[0..5]", p, 5);
	rec_bytes(tr, "old p[4106..4111]", p + PAGE + 10, 5);

	/* The new segment has none of it. */
	q = do_at(b, tr, "new", c, NULL, 0);
	if (q != NULL) {
		rec_zero(tr, "new segment", q, PAGE);
		do_dt(b, tr, "new", q);
	}

	/* Linux lets a segment marked SHM_DEST be attached by id. */
	s = do_at(b, tr, "removed one by id", a, NULL, 0);
	do_stat(b, tr, "after second attach", a, "c<=a", NULL);
	if (s != NULL) {
		rec_bytes(tr, "second attachment", s, 5);
		do_dt(b, tr, "second attachment", s);
	}
	do_stat(b, tr, "after one shmdt", a, "c<=a<=d", NULL);
	do_dt(b, tr, "last attachment", p);
	do_stat(b, tr, "after last shmdt", a, "c", NULL);
	do_at(b, tr, "gone", a, NULL, 0);
	do_stat(b, tr, "new one", c, "c", NULL);
}

/* ---- scenarios: shmctl errors ---------------------------------------------- */

static void
scenario_shmctl_bad_arguments_are_einval_or_efault(const struct backend *b, struct trace *tr,
						   key_t key)
{
	struct shmid_ds ds;
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);

	memset(&ds, 0, sizeof(ds));
	do_ctl(b, tr, "unknown command 12345", a, 12345, &ds);
	do_ctl(b, tr, "unknown command -1", a, -1, &ds);
	do_ctl(b, tr, "stat id -1", -1, IPC_STAT, &ds);
	do_ctl(b, tr, "stat id INT_MIN", INT_MIN, IPC_STAT, &ds);
	do_ctl(b, tr, "rmid id -1", -1, IPC_RMID, NULL);
	do_ctl(b, tr, "set id -1", -1, IPC_SET, &ds);
	do_ctl(b, tr, "stat NULL buffer", a, IPC_STAT, NULL);
	do_ctl(b, tr, "set NULL buffer", a, IPC_SET, NULL);
	do_at(b, tr, "id -1", -1, NULL, 0);
	do_stat(b, tr, "unchanged", a, "c", NULL);
}

/* ---- scenarios: shmat and shmdt -------------------------------------------------- */

struct rdonly_arg {
	volatile char *ro;
};

static void
rdonly_child(const struct backend *b, struct trace *tr, void *arg)
{
	struct rdonly_arg *ra = arg;

	(void)b;
	rec_bytes(tr, "read through the read-only attachment", (const char *)ra->ro, 1);
	child_flush(tr);
	ra->ro[0] = 'y';
	rec(tr, "the write went through");
}

static void
scenario_shmat_rdonly_mapping_is_read_only(const struct backend *b, struct trace *tr,
					   key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	char *p = do_at(b, tr, "K rw", a, NULL, 0), *q;
	struct rdonly_arg ra;
	struct child c;

	if (p == NULL)
		return;
	p[0] = 'x';
	do_sync(b, tr, "rw", p);
	q = do_at(b, tr, "K rdonly", a, NULL, SHM_RDONLY);
	if (q == NULL)
		return;
	do_sync(b, tr, "rdonly", q);
	rec_bytes(tr, "rdonly", q, 1);
	ra.ro = q;
	child_spawn(b, tr, &c, rdonly_child, &ra);
	child_finish(tr, &c);
	do_sync(b, tr, "rdonly after child", q);
	rec_bytes(tr, "rdonly after child", q, 1);
	do_dt(b, tr, "K rdonly", q);
	do_dt(b, tr, "K rw", p);
}

static void
scenario_shmat_at_a_given_address(const struct backend *b, struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat", key, 2 * PAGE, IPC_CREAT | 0600);
	char *base = free_address(16 * PAGE), *want, *p;

	if (base == NULL) {
		rec(tr, "no free address");
		return;
	}
	want = base + 4 * PAGE;
	p = do_at(b, tr, "aligned address", a, want, 0);
	if (p != NULL) {
		rec(tr, "at the address asked: %s", p == want ? "yes" : "no");
		memcpy(p + PAGE, "abc", 3);
		do_sync(b, tr, "aligned", p);
		do_dt(b, tr, "aligned", p);
	}
	do_at(b, tr, "unaligned without SHM_RND", a, want + 123, 0);
	do_at(b, tr, "unaligned rdonly without SHM_RND", a, want + 1, SHM_RDONLY);
	p = do_at(b, tr, "unaligned with SHM_RND", a, want + 123, SHM_RND);
	if (p != NULL) {
		rec(tr, "rounded down to SHMLBA: %s",
		    (uintptr_t)p == ((uintptr_t)(want + 123) & ~(uintptr_t)(SHMLBA - 1)) ? "yes"
											: "no");
		rec_bytes(tr, "second page", p + PAGE, 3);
		do_dt(b, tr, "rounded", p);
	}
	p = do_at(b, tr, "aligned with SHM_RND", a, want, SHM_RND);
	if (p != NULL) {
		rec(tr, "at the address asked: %s", p == want ? "yes" : "no");
		do_dt(b, tr, "aligned with SHM_RND", p);
	}
	do_stat(b, tr, "after all", a, "c<=a<=d", NULL);
}

static void
scenario_shmat_over_a_mapping_needs_shm_remap(const struct backend *b, struct trace *tr,
					      key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	char *r = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (r == MAP_FAILED) {
		rec(tr, "mmap failed");
		return;
	}
	memset(r, 0x55, 2 * PAGE);
	do_at(b, tr, "over a mapping", a, r, 0);
	do_at(b, tr, "over the mapping's second page", a, r + PAGE, 0);
	do_at(b, tr, "over a mapping, SHM_RND", a, r + 1, SHM_RND);
	rec_bytes(tr, "mapping untouched", r, 2);
	do_at(b, tr, "SHM_REMAP without an address", a, NULL, SHM_REMAP);
	p = do_at(b, tr, "over a mapping with SHM_REMAP", a, r, SHM_REMAP);
	if (p != NULL) {
		rec(tr, "at the address asked: %s", p == r ? "yes" : "no");
		rec_bytes(tr, "now the segment", p, 2);
		rec_bytes(tr, "the mapping's second page", r + PAGE, 2);
		do_dt(b, tr, "remapped", p);
	}
	do_stat(b, tr, "after", a, "c<=a<=d", NULL);
	munmap(r, 2 * PAGE);
}

static void
scenario_shmat_and_shmdt_errors(const struct backend *b, struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat", key, 2 * PAGE, IPC_CREAT | 0600);
	char *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	do_at(b, tr, "id -1", -1, NULL, 0);
	do_at(b, tr, "id INT_MAX", INT_MAX, NULL, 0);
	if (m != MAP_FAILED) {
		do_dt(b, tr, "an anonymous mapping", m);
		munmap(m, PAGE);
	}
	do_dt(b, tr, "NULL", NULL);
	p = do_at(b, tr, "K", a, NULL, 0);
	if (p == NULL)
		return;
	do_dt(b, tr, "unaligned", p + 1);
	do_dt(b, tr, "second page", p + PAGE);
	do_stat(b, tr, "still attached", a, "c<=a", NULL);
	do_dt(b, tr, "K", p);
	do_dt(b, tr, "K again", p);
	do_stat(b, tr, "detached", a, "c<=a<=d", NULL);
	p = do_at(b, tr, "K SHM_EXEC", a, NULL, SHM_EXEC);
	if (p != NULL)
		do_dt(b, tr, "K SHM_EXEC", p);
}

static void
scenario_shm_lock_sets_shm_locked(const struct backend *b, struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat 0600", key, PAGE, IPC_CREAT | 0600);
	struct shmid_ds ds;

	do_ctl(b, tr, "SHM_LOCK", a, SHM_LOCK, NULL);
	if (do_stat(b, tr, "locked", a, "c", &ds) == 0) {
		ds.shm_perm.mode = 0640;
		do_ctl(b, tr, "set mode 0640 while locked", a, IPC_SET, &ds);
		do_stat(b, tr, "SHM_LOCKED stays", a, "c", NULL);
	}
	do_ctl(b, tr, "SHM_LOCK again", a, SHM_LOCK, NULL);
	do_ctl(b, tr, "SHM_UNLOCK", a, SHM_UNLOCK, NULL);
	do_stat(b, tr, "unlocked", a, "c", NULL);
	do_ctl(b, tr, "SHM_UNLOCK again", a, SHM_UNLOCK, NULL);
	do_ctl(b, tr, "SHM_LOCK id -1", -1, SHM_LOCK, NULL);
}

static void
scenario_attaching_twice_counts_two(const struct backend *b, struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	char *p = do_at(b, tr, "first", a, NULL, 0);
	char *q = do_at(b, tr, "second", a, NULL, 0);

	if (p == NULL || q == NULL)
		return;
	rec(tr, "two different addresses: %s", p != q ? "yes" : "no");
	do_stat(b, tr, "two attachments", a, "c<=a", NULL);
	memcpy(p + 8, "twice", 5);
	do_sync(b, tr, "first", p);
	do_sync(b, tr, "second", q);
	rec_bytes(tr, "through the second", q + 8, 5);
	do_dt(b, tr, "first", p);
	do_stat(b, tr, "one attachment", a, "c<=a<=d", NULL);
	do_dt(b, tr, "second", q);
	do_stat(b, tr, "none", a, "c<=a<=d", NULL);
}

/* ---- scenarios: permissions (a child as nobody) ------------------------------ */

struct perm_arg {
	key_t key;
	int id;
};

static void
perm_get_child(const struct backend *b, struct trace *tr, void *arg)
{
	struct perm_arg *pa = arg;

	if (!become_nobody(b, tr))
		return;
	rec_same_id(tr, "K 0", pa->id, do_get(b, tr, "K 0", pa->key, 0, 0));
	rec_same_id(tr, "K 0400", pa->id, do_get(b, tr, "K 0400", pa->key, 0, 0400));
	rec_same_id(tr, "K 0004", pa->id, do_get(b, tr, "K 0004", pa->key, 0, 0004));
	do_get(b, tr, "K 0600", pa->key, 0, 0600);
	do_get(b, tr, "K 0200", pa->key, 0, 0200);
	do_get(b, tr, "K 0040", pa->key, 0, 0040);
	do_get(b, tr, "K creat 0600", pa->key, 0, IPC_CREAT | 0600);
	do_get(b, tr, "K creat|excl 0400", pa->key, 0, IPC_CREAT | IPC_EXCL | 0400);
}

static void
scenario_perm_shmget_asks_no_more_than_the_mode_grants(const struct backend *b,
						       struct trace *tr, key_t key)
{
	struct perm_arg pa = {key, do_get(b, tr, "K creat 0444", key, PAGE, IPC_CREAT | 0444)};
	struct child c;

	child_spawn(b, tr, &c, perm_get_child, &pa);
	child_finish(tr, &c);
}

static void
perm_at_child(const struct backend *b, struct trace *tr, void *arg)
{
	struct perm_arg *pa = arg;
	char *p;

	if (!become_nobody(b, tr))
		return;
	do_at(b, tr, "0444 rw", pa->id, NULL, 0);
	p = do_at(b, tr, "0444 rdonly", pa->id, NULL, SHM_RDONLY);
	if (p != NULL) {
		rec_bytes(tr, "0444", p, 2);
		do_stat(b, tr, "0444 attached", pa->id, "c<=a", NULL);
		do_dt(b, tr, "0444 rdonly", p);
	}
	/* pa->key + 1: a 0222 segment, which can be neither read nor attached. */
	do_at(b, tr, "0222 rw", b->get(pa->key + 1, 0, 0), NULL, 0);
	do_at(b, tr, "0222 rdonly", b->get(pa->key + 1, 0, 0), NULL, SHM_RDONLY);
}

static void
scenario_perm_shmat_needs_read_and_for_rw_write(const struct backend *b, struct trace *tr,
						key_t key)
{
	struct perm_arg pa = {key, do_get(b, tr, "K creat 0444", key, PAGE, IPC_CREAT | 0444)};
	struct child c;
	char *p = do_at(b, tr, "K by root", pa.id, NULL, 0);

	if (p != NULL) {
		memcpy(p, "ro", 2);
		do_dt(b, tr, "K by root", p);
	}
	do_get(b, tr, "K+1 creat 0222", key + 1, PAGE, IPC_CREAT | 0222);
	child_spawn(b, tr, &c, perm_at_child, &pa);
	child_finish(tr, &c);
	do_stat(b, tr, "K after child", pa.id, "c<=a<=d", NULL);
}

static void
perm_stat_child(const struct backend *b, struct trace *tr, void *arg)
{
	struct perm_arg *pa = arg;

	if (!become_nobody(b, tr))
		return;
	do_stat(b, tr, "0200", pa->id, "c", NULL);
	do_stat(b, tr, "0004", b->get(pa->key + 1, 0, 0), "c", NULL);
	do_stat(b, tr, "0040", b->get(pa->key + 2, 0, 0), "c", NULL);
}

static void
scenario_perm_ipc_stat_needs_read(const struct backend *b, struct trace *tr, key_t key)
{
	struct perm_arg pa = {key, do_get(b, tr, "K creat 0200", key, PAGE, IPC_CREAT | 0200)};
	struct child c;

	do_get(b, tr, "K+1 creat 0004", key + 1, PAGE, IPC_CREAT | 0004);
	do_get(b, tr, "K+2 creat 0040", key + 2, PAGE, IPC_CREAT | 0040);
	child_spawn(b, tr, &c, perm_stat_child, &pa);
	child_finish(tr, &c);
}

static void
perm_owner_child(const struct backend *b, struct trace *tr, void *arg)
{
	struct perm_arg *pa = arg;
	struct shmid_ds ds;

	if (!become_nobody(b, tr))
		return;
	if (do_stat(b, tr, "K", pa->id, "c", &ds) != 0)
		memset(&ds, 0, sizeof(ds));
	ds.shm_perm.mode = 0600;
	do_ctl(b, tr, "set mode 0600", pa->id, IPC_SET, &ds);
	do_ctl(b, tr, "rmid", pa->id, IPC_RMID, NULL);
	do_stat(b, tr, "K after", pa->id, "c", NULL);
}

static void
scenario_perm_ipc_set_and_rmid_need_the_owner_or_creator(const struct backend *b,
							 struct trace *tr, key_t key)
{
	struct perm_arg pa = {key, do_get(b, tr, "K creat 0666", key, PAGE, IPC_CREAT | 0666)};
	struct shmid_ds ds;
	struct child c;

	/* nobody is neither owner nor creator: EPERM. */
	child_spawn(b, tr, &c, perm_owner_child, &pa);
	child_finish(tr, &c);
	if (do_stat(b, tr, "K untouched", pa.id, "c", &ds) != 0)
		return;
	/* Once nobody owns it, nobody may change and remove it. */
	ds.shm_perm.uid = NOBODY;
	do_ctl(b, tr, "set uid nobody", pa.id, IPC_SET, &ds);
	child_spawn(b, tr, &c, perm_owner_child, &pa);
	child_finish(tr, &c);
	do_stat(b, tr, "K after the owner's rmid", pa.id, "c", NULL);
	do_get(b, tr, "K after the owner's rmid", key, 0, 0);
}

/* ---- scenarios: fork, exit and SIGKILL ------------------------------------------- */

struct fork_arg {
	int id;
	char *p;
};

static void
fork_child_reads_and_writes(const struct backend *b, struct trace *tr, void *arg)
{
	struct fork_arg *fa = arg;

	child_wait_go();
	rec_bytes(tr, "inherited attachment", fa->p, 6);
	memcpy(fa->p + 100, "child", 5);
	do_sync(b, tr, "child's write", fa->p);
	do_stat(b, tr, "in the child", fa->id, "c<=a", NULL);
}

static void
scenario_fork_inherits_the_attachment_and_exit_detaches(const struct backend *b,
							struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	struct fork_arg fa = {a, do_at(b, tr, "K", a, NULL, 0)};
	struct child c;
	bool ok;

	if (fa.p == NULL)
		return;
	memcpy(fa.p, "parent", 6);
	do_sync(b, tr, "parent's write", fa.p);
	do_stat(b, tr, "before fork", a, "c<=a", NULL);
	child_spawn(b, tr, &c, fork_child_reads_and_writes, &fa);
	do_stat(b, tr, "right after fork", a, "c<=a", NULL);
	child_go(&c);
	child_finish(tr, &c);
	ok = WAIT_UNTIL(nattch_of(b, a) == 1, 2000);
	rec(tr, "nattch back to 1 within 2 s: %s", ok ? "yes" : "no");
	do_stat(b, tr, "after the child exited", a, "c<=a<=d", NULL);
	do_sync(b, tr, "parent", fa.p);
	rec_bytes(tr, "the child's write", fa.p + 100, 5);
	do_dt(b, tr, "K", fa.p);
	do_stat(b, tr, "after shmdt", a, "c<=a<=d", NULL);
}

static void
attach_and_wait_child(const struct backend *b, struct trace *tr, void *arg)
{
	struct fork_arg *fa = arg;
	char *p = do_at(b, tr, "K in the child", fa->id, NULL, 0);

	if (p != NULL) {
		memcpy(p, "killed", 6);
		do_sync(b, tr, "child", p);
	}
	child_ready(tr);
	child_wait_go(); /* the parent kills us first */
}

static void
scenario_sigkill_of_an_attached_child_detaches(const struct backend *b, struct trace *tr,
					       key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	struct fork_arg fa = {a, NULL};
	struct child c;
	char buf[8];
	bool ok;

	child_spawn(b, tr, &c, attach_and_wait_child, &fa);
	child_await_ready(tr, &c);
	do_stat(b, tr, "child attached", a, "c<=a", NULL);
	if (c.pid > 0)
		kill(c.pid, SIGKILL);
	child_finish(tr, &c);
	ok = WAIT_UNTIL(nattch_of(b, a) == 0, 2000);
	rec(tr, "nattch back to 0 within 2 s: %s", ok ? "yes" : "no");
	do_stat(b, tr, "after SIGKILL", a, "c<=a<=d", NULL);
	/* What it synced before it died stays. */
	fa.p = do_at(b, tr, "K in the parent", a, NULL, 0);
	if (fa.p != NULL) {
		memcpy(buf, fa.p, 6);
		rec_bytes(tr, "the child's synced write", buf, 6);
		do_dt(b, tr, "K in the parent", fa.p);
	}
}

static void
wait_to_be_killed_child(const struct backend *b, struct trace *tr, void *arg)
{
	(void)b;
	(void)arg;
	child_ready(tr);
	child_wait_go();
}

static void
scenario_sigkill_of_a_child_with_an_inherited_attachment(const struct backend *b,
							 struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	char *p = do_at(b, tr, "K", a, NULL, 0);
	struct child c;
	bool ok;

	if (p == NULL)
		return;
	child_spawn(b, tr, &c, wait_to_be_killed_child, NULL);
	child_await_ready(tr, &c);
	do_stat(b, tr, "child holds the inherited attachment", a, "c<=a", NULL);
	if (c.pid > 0)
		kill(c.pid, SIGKILL);
	child_finish(tr, &c);
	ok = WAIT_UNTIL(nattch_of(b, a) == 1, 2000);
	rec(tr, "nattch back to 1 within 2 s: %s", ok ? "yes" : "no");
	do_stat(b, tr, "after SIGKILL", a, "c<=a<=d", NULL);
	do_dt(b, tr, "K", p);
	do_stat(b, tr, "after shmdt", a, "c<=a<=d", NULL);
}

/* ---- running a scenario on both backends -------------------------------------------------- */

typedef void (*scenario_fn)(const struct backend *b, struct trace *tr, key_t key);

/* Four keys a scenario may use: key .. key + 3, unique in this process. */
static key_t
fresh_key(void)
{
	static unsigned counter;

	counter += 4;
	return (key_t)(0x5e000000u | ((unsigned)getpid() & 0xfffu) << 12 | (counter & 0xfffu));
}

static struct trace *
trace_new(key_t key)
{
	struct trace *tr = calloc(1, sizeof(*tr));

	if (tr != NULL) {
		tr->key = key;
		tr->self = getpid();
		tr->parent = -1;
		tr->out_fd = -1;
	}
	return tr;
}

/* Removes kernel segments a crashed earlier run may have left at the keys. */
static void
clear_kernel_keys(key_t key)
{
	for (int i = 0; i < 4; i++) {
		int id = shmget(key + i, 0, 0);

		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
	}
}

/* Detaches what the scenario left attached and removes what it created. */
static void
finish_run(const struct backend *b, struct trace *tr)
{
	for (int i = 0; i < tr->natts; i++)
		b->dt(tr->atts[i]);
	tr->natts = 0;
	for (int i = 0; i < tr->nids; i++)
		b->ctl(tr->ids[i], IPC_RMID, NULL);
	tr->nids = 0;
}

static struct trace *
run_on(const struct backend *b, scenario_fn fn)
{
	key_t key = fresh_key();
	struct trace *tr = trace_new(key);

	if (tr == NULL)
		return NULL;
	if (b == &kernel_backend)
		clear_kernel_keys(key);
	fn(b, tr, key);
	finish_run(b, tr);
	if (b == &kernel_backend)
		clear_kernel_keys(key);
	return tr;
}

static bool
traces_equal(const struct trace *x, const struct trace *y)
{
	if (x->n != y->n)
		return false;
	for (int i = 0; i < x->n; i++)
		if (strcmp(x->line[i], y->line[i]) != 0)
			return false;
	return true;
}

/* Both traces line by line; lines that differ are marked "!". */
static void
print_traces(const char *name, const char *xname, const struct trace *x, const char *yname,
	     const struct trace *y)
{
	int n = x->n > y->n ? x->n : y->n;

	fprintf(stderr, "%s: %s and %s differ (lines marked !)\n", name, xname, yname);
	for (int i = 0; i < n; i++) {
		const char *a = i < x->n ? x->line[i] : "(no line)";
		const char *c = i < y->n ? y->line[i] : "(no line)";

		if (strcmp(a, c) == 0)
			fprintf(stderr, "  %3d          %s\n", i, a);
		else
			fprintf(stderr, "! %3d %-7s  %s\n! %3d %-7s  %s\n", i, xname, a, i, yname, c);
	}
}

static void
run_diff(void **state, const char *name, scenario_fn fn)
{
	struct fixture *f = *state;
	struct trace *kt, *dt;
	bool same;

	server_open_to_all(&f->srv);
	kt = run_on(&kernel_backend, fn);
	assert_non_null(kt);
	if (dshm_set_server(f->addr) != 0) {
		free(kt);
		fail_msg("dshm_set_server(%s): %s", f->addr, strerror(errno));
	}
	dshm_addr = f->addr;
	dt = run_on(&dshm_backend, fn);
	if (dt == NULL)
		free(kt);
	assert_non_null(dt);
	same = traces_equal(kt, dt);
	if (!same)
		print_traces(name, kernel_backend.name, kt, dshm_backend.name, dt);
	free(kt);
	free(dt);
	assert_true(same);
}

/* Every differential scenario; each becomes a test run over both transports. */
/* SHM_STAT takes an index; a whole id is cut down to its index, as the kernel does. */
static void
scenario_shm_stat_takes_an_index_or_a_whole_id(const struct backend *b, struct trace *tr,
					       key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	struct shmid_ds ds;
	int r;

	if (a < 0)
		return;
	errno = 0;
	r = b->ctl(a, SHM_STAT, &ds);
	rec(tr, "SHM_STAT of the whole id: %s%s", r == a ? "the id" : r < 0 ? "-1 " : "another",
	    r < 0 ? errname(errno) : "");
	do_ctl(b, tr, "IPC_RMID", a, IPC_RMID, NULL);
}

/* IPC_SET with uid or gid -1 (no user): EINVAL, after the owner check. */
static void
scenario_ipc_set_with_no_user_is_einval(const struct backend *b, struct trace *tr, key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	struct shmid_ds ds;

	if (a < 0 || do_stat(b, tr, "before", a, "", &ds) != 0)
		return;
	ds.shm_perm.uid = (uid_t)-1;
	do_ctl(b, tr, "IPC_SET uid -1", a, IPC_SET, &ds);
	ds.shm_perm.uid = 0;
	ds.shm_perm.gid = (gid_t)-1;
	do_ctl(b, tr, "IPC_SET gid -1", a, IPC_SET, &ds);
	do_stat(b, tr, "unchanged", a, "", NULL);
	do_ctl(b, tr, "IPC_RMID", a, IPC_RMID, NULL);
}

/* SHM_REMAP over an attachment replaces it: the old one is detached. */
static void
scenario_shm_remap_over_an_attachment_detaches_it(const struct backend *b, struct trace *tr,
						   key_t key)
{
	int a = do_get(b, tr, "K creat", key, PAGE, IPC_CREAT | 0600);
	int p2 = do_get(b, tr, "private", IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
	char *first, *second;

	if (a < 0 || p2 < 0)
		return;
	first = do_at(b, tr, "K", a, NULL, 0);
	if (first == NULL)
		return;
	memcpy(first, "old", 3);
	do_sync(b, tr, "K", first);
	second = do_at(b, tr, "private over K with SHM_REMAP", p2, first, SHM_REMAP);
	rec(tr, "at the same address: %s", second == first ? "yes" : "no");
	do_stat(b, tr, "K after the remap", a, "", NULL);
	do_stat(b, tr, "private after the remap", p2, "", NULL);
	if (second != NULL) {
		track_att(tr, first, false);
		do_dt(b, tr, "the address", second);
	}
	do_dt(b, tr, "the address again", first);
	do_stat(b, tr, "K at the end", a, "", NULL);
	do_stat(b, tr, "private at the end", p2, "", NULL);
	do_ctl(b, tr, "IPC_RMID K", a, IPC_RMID, NULL);
	do_ctl(b, tr, "IPC_RMID private", p2, IPC_RMID, NULL);
}

#define SCENARIOS(X)                                                          \
	X(shmget_private_always_creates)                                      \
	X(shmget_creat_creates_when_missing_and_finds_when_present)           \
	X(shmget_excl_on_existing_key_is_eexist)                              \
	X(shmget_missing_key_without_creat_is_enoent)                         \
	X(shmget_excl_without_creat_is_ignored)                               \
	X(shmget_size_rules)                                                  \
	X(shmget_mode_is_the_low_nine_bits)                                   \
	X(shmget_odd_size_is_kept_exactly)                                    \
	X(segment_is_zero_filled_on_creation)                                 \
	X(stale_id_after_rmid_is_einval)                                      \
	X(ipc_stat_after_create_attach_and_detach)                            \
	X(ipc_set_changes_owner_and_mode_only)                                \
	X(rmid_while_attached_marks_dest_and_frees_the_key)                   \
	X(shmctl_bad_arguments_are_einval_or_efault)                          \
	X(shmat_rdonly_mapping_is_read_only)                                  \
	X(shmat_at_a_given_address)                                           \
	X(shmat_over_a_mapping_needs_shm_remap)                               \
	X(shmat_and_shmdt_errors)                                             \
	X(shm_lock_sets_shm_locked)                                           \
	X(attaching_twice_counts_two)                                         \
	X(perm_shmget_asks_no_more_than_the_mode_grants)                      \
	X(perm_shmat_needs_read_and_for_rw_write)                             \
	X(perm_ipc_stat_needs_read)                                           \
	X(perm_ipc_set_and_rmid_need_the_owner_or_creator)                    \
	X(fork_inherits_the_attachment_and_exit_detaches)                     \
	X(sigkill_of_an_attached_child_detaches)                              \
	X(sigkill_of_a_child_with_an_inherited_attachment)                    \
	X(shm_stat_takes_an_index_or_a_whole_id)                              \
	X(ipc_set_with_no_user_is_einval)                                     \
	X(shm_remap_over_an_attachment_detaches_it)

#define DIFF_TEST(name)                                                       \
	static void test_##name(void **state)                                 \
	{                                                                     \
		run_diff(state, #name, scenario_##name);                      \
	}
SCENARIOS(DIFF_TEST)

/* ---- dshm alone: what the kernel has no counterpart for ---------------------------------- */

static void
test_dshm_read_and_write_without_attaching(void **state)
{
	struct fixture *f = *state;
	unsigned char buf[3 * PAGE + 100], zeros[sizeof(buf)];
	size_t size = sizeof(buf);
	int id;
	char *p;

	memset(zeros, 0, sizeof(zeros));
	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	assert_true(id >= 0);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(dshm_read(id, 0, buf, size), (ssize_t)size);
	assert_memory_equal(buf, zeros, size);
	assert_int_equal(dshm_write(id, PAGE - 2, "abcd", 4), 4);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	assert_memory_equal(p + PAGE - 2, "abcd", 4);
	memcpy(p + 10, "xyz", 3);
	assert_int_equal(dshm_sync(p), 0);
	assert_int_equal(dshm_read(id, 10, buf, 3), 3);
	assert_memory_equal(buf, "xyz", 3);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	errno = 0;
	assert_int_equal(dshm_read(id, 0, buf, 1), -1);
	assert_int_equal(errno, EINVAL);
}

static int
used_ids(void)
{
	struct shm_info si;

	memset(&si, 0, sizeof(si));
	if (dshm_shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si) < 0)
		return -1;
	return si.used_ids;
}

static void
test_ipc_info_gives_limits_and_shm_info_counts_segments(void **state)
{
	struct fixture *f = *state;
	struct shminfo info;
	int before, ids[3];

	assert_int_equal(dshm_set_server(f->addr), 0);
	memset(&info, 0, sizeof(info));
	assert_true(dshm_shmctl(0, IPC_INFO, (struct shmid_ds *)(void *)&info) >= 0);
	assert_true(info.shmmni > 0);
	assert_true(info.shmmax > 0);
	before = used_ids();
	assert_true(before >= 0);
	for (int i = 0; i < 3; i++) {
		ids[i] = dshm_shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
		assert_true(ids[i] >= 0);
	}
	assert_int_equal(used_ids(), before + 3);
	assert_int_equal(dshm_shmctl(ids[1], IPC_RMID, NULL), 0);
	assert_int_equal(used_ids(), before + 2);
	assert_int_equal(dshm_shmctl(ids[0], IPC_RMID, NULL), 0);
	assert_int_equal(dshm_shmctl(ids[2], IPC_RMID, NULL), 0);
	assert_int_equal(used_ids(), before);
}

struct twin_arg {
	int id;
	size_t off;
	char ch;
};

static void
twin_child(const struct backend *b, struct trace *tr, void *arg)
{
	struct twin_arg *ta = arg;
	char *p;
	bool a = true, c = true;

	rec(tr, "reconnect: %d", b->child_init());
	p = do_at(b, tr, "K", ta->id, NULL, 0);
	if (p == NULL)
		return;
	memset(p + ta->off, ta->ch, 100);
	do_sync(b, tr, "own write", p);
	child_ready(tr);
	child_wait_go();
	do_sync(b, tr, "after both wrote", p);
	for (int i = 0; i < 100; i++) {
		a = a && p[i] == 'A';
		c = c && p[100 + i] == 'B';
	}
	rec(tr, "sees A: %s, sees B: %s", a ? "yes" : "no", c ? "yes" : "no");
	do_dt(b, tr, "K", p);
}

static void
test_two_clients_writing_one_page_both_land(void **state)
{
	struct fixture *f = *state;
	struct trace *tr = trace_new(fresh_key()), *want = trace_new(0);
	struct twin_arg ta[2];
	struct child c[2];
	char page[PAGE];
	bool same;
	int id;

	assert_non_null(tr);
	assert_non_null(want);
	assert_int_equal(dshm_set_server(f->addr), 0);
	dshm_addr = f->addr;
	id = do_get(&dshm_backend, tr, "K creat", tr->key, PAGE, IPC_CREAT | 0600);
	for (int i = 0; i < 2; i++) {
		ta[i] = (struct twin_arg){id, 100 * (size_t)i, i == 0 ? 'A' : 'B'};
		child_spawn(&dshm_backend, tr, &c[i], twin_child, &ta[i]);
	}
	for (int i = 0; i < 2; i++)
		child_await_ready(tr, &c[i]);
	for (int i = 0; i < 2; i++)
		child_go(&c[i]);
	for (int i = 0; i < 2; i++)
		child_finish(tr, &c[i]);
	memset(page, 0x11, sizeof(page));
	if (dshm_read(id, 0, page, PAGE) != PAGE)
		rec(tr, "dshm_read failed: %s", errname(errno));
	else
		rec_bytes(tr, "98..101", page + 98, 4);
	rec_zero(tr, "after byte 200", page + 200, PAGE - 200);
	dshm_shmctl(id, IPC_RMID, NULL);

	rec(want, "shmget K creat: id");
	for (int i = 0; i < 2; i++) {
		rec(want, "child: reconnect: 0");
		rec(want, "child: shmat K: attached");
		rec(want, "child: sync own write: 0");
		rec(want, "child: sync after both wrote: 0");
		rec(want, "child: sees A: yes, sees B: yes");
		rec(want, "child: shmdt K: 0");
		rec(want, "child: exit 0");
	}
	rec(want, "bytes 98..101: 41 41 42 42");
	rec(want, "after byte 200: all zero");
	same = traces_equal(want, tr);
	if (!same)
		print_traces("two clients", "want", want, "dshm", tr);
	free(tr);
	free(want);
	assert_true(same);
}

int
main(void)
{
#define DIFF_ENTRY(name) TEST_BOTH(test_##name),
	const struct CMUnitTest tests[] = {
		SCENARIOS(DIFF_ENTRY)
		TEST_BOTH(test_dshm_read_and_write_without_attaching),
		TEST_ONE(test_ipc_info_gives_limits_and_shm_info_counts_segments),
		TEST_BOTH(test_two_clients_writing_one_page_both_land),
	};
#undef DIFF_ENTRY

	return cmocka_run_group_tests_name("segments_diff", tests, NULL, NULL);
}
