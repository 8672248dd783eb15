/*
 * pager_uffd.c — the pager's side of a mapping's userfaultfd: the
 * descriptor was made by the process that maps the memory, and the
 * kernel applies every operation on it to that process, whoever calls:
 * the pager reads its faults, fills a missing page (UFFDIO_COPY), and
 * sets or clears write protection (UFFDIO_WRITEPROTECT, which on shared
 * memory also marks pages not mapped yet, so a later mapping is
 * protected too), waking the threads that wait.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pager_int.h"

static bool
covers(const struct reg *r, uint32_t page)
{
	return r->uffd >= 0 && (uint64_t)(page + 1) * PG <= r->len;
}

int
uffd_wp(const struct reg *r, uint32_t page, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = {r->addr + (uint64_t)page * PG, PG},
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	if (!covers(r, page) || r->rdonly)
		return 0; /* a read-only mapping cannot write anyway */
	return ioctl(r->uffd, UFFDIO_WRITEPROTECT, &wp);
}

int
uffd_wake(const struct reg *r, uint32_t page)
{
	struct uffdio_range range = {r->addr + (uint64_t)page * PG, PG};

	if (!covers(r, page))
		return 0;
	return ioctl(r->uffd, UFFDIO_WAKE, &range);
}

int
uffd_copy(const struct reg *r, uint32_t page, const void *data, bool protect)
{
	struct uffdio_copy c = {
		.dst = r->addr + (uint64_t)page * PG,
		.src = (uint64_t)(uintptr_t)data,
		.len = PG,
		.mode = protect && !r->rdonly ? UFFDIO_COPY_MODE_WP : 0,
	};

	if (!covers(r, page))
		return 0;
	/* EEXIST: another mapping's fault filled the page first; the waiter only needs waking. */
	if (ioctl(r->uffd, UFFDIO_COPY, &c) < 0)
		return errno == EEXIST ? uffd_wake(r, page) : -1;
	return 0;
}

bool
uffd_next(const struct reg *r, uint64_t *addr, bool *write, bool *wp)
{
	struct uffd_msg msg;

	for (;;) {
		ssize_t n = read(r->uffd, &msg, sizeof(msg));

		if (n != (ssize_t)sizeof(msg))
			return false; /* EAGAIN: none; or the process is gone */
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		*addr = msg.arg.pagefault.address;
		*write = (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
		*wp = (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) != 0;
		return true;
	}
}
