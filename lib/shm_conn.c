/*
 * shm_conn.c — the connections of the System V-style calls: one per
 * identity the process has had (dshmd takes a Unix client's ids from
 * the kernel when it connects, so after setuid or seteuid the calls go
 * on a new connection, which the server identifies anew, while the
 * attachments made before stay on the one they were made on, as the
 * kernel keeps them); opened lazily, identified (IDENT), re-opened after
 * a failure, and handed over across fork the way the kernel hands over
 * attachments.
 *
 * Fork: the prepare handler takes the lock, so no call is half-way
 * through the connection when the process is copied.  The child drops
 * its copy of the parent's socket (without shutting it down: the parent
 * still uses it), opens its own, and re-attaches each inherited segment,
 * so that shm_nattch counts it; the parent waits for that (on a pipe)
 * before fork returns, so a shmctl(IPC_STAT) in the parent right after
 * fork sees the child's attachments, as with the kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "clock.h"
#include "dshm.h"
#include "shm_internal.h"

/*
 * A connection, and the effective ids it was opened with (the server
 * took those from the kernel).  fd is -1 while closed: the next call on
 * it opens it again.  refs counts the attachments made on it.
 */
struct shm_link {
	int fd;
	uid_t uid;
	gid_t gid;
	pid_t pid; /* the process that opened it (a vfork child is not that process) */
	unsigned refs;
	struct shm_link *next;
};

struct attachment *shm_attachments;
uint32_t shm_max_data = PROTO_MAX_DATA;

static int open_conn(struct shm_link *l, int32_t lpid);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *server_addr; /* NULL: $DSHM_SERVER or the default socket */
static struct shm_link *links;
static bool reattaching; /* open_conn is re-attaching: a nested open must not */
static int fork_pipe[2] = {-1, -1};

static bool
any_open(void)
{
	for (struct shm_link *l = links; l != NULL; l = l->next)
		if (l->fd >= 0)
			return true;
	return false;
}

static void
close_link(struct shm_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* Frees the links no attachment needs, but the one of the present ids. */
static void
drop_unused(uid_t uid, gid_t gid)
{
	for (struct shm_link **p = &links, *l; (l = *p) != NULL;) {
		if (l->refs == 0 && (l->uid != uid || l->gid != gid)) {
			*p = l->next;
			close_link(l);
			free(l);
		} else
			p = &l->next;
	}
}

struct shm_link *
shm_link_current(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	struct shm_link *l;

	drop_unused(uid, gid);
	for (l = links; l != NULL; l = l->next)
		if (l->uid == uid && l->gid == gid)
			return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	*l = (struct shm_link){.fd = -1, .uid = uid, .gid = gid, .next = links};
	links = l;
	return l;
}

bool
shm_link_ours(const struct shm_link *l)
{
	return l != NULL && l->fd >= 0 && l->pid == getpid();
}

void
shm_link_hold(struct shm_link *l)
{
	l->refs++;
}

void
shm_link_release(struct shm_link *l)
{
	if (l->refs > 0)
		l->refs--;
	drop_unused(geteuid(), getegid());
}

static void
prepare_fork(void)
{
	pthread_mutex_lock(&lock);
	if (shm_attachments != NULL && any_open() && pipe2(fork_pipe, O_CLOEXEC) < 0)
		fork_pipe[0] = fork_pipe[1] = -1;
}

static void
parent_after_fork(void)
{
	if (fork_pipe[0] >= 0) {
		char c;

		close(fork_pipe[1]);
		/* One byte when the child has re-attached; end of file if it died first. */
		while (read(fork_pipe[0], &c, 1) < 0 && errno == EINTR)
			;
		close(fork_pipe[0]);
		fork_pipe[0] = fork_pipe[1] = -1;
	}
	pthread_mutex_unlock(&lock);
}

static void
child_after_fork(void)
{
	struct shm_link *mine;
	int saved = errno;

	/* The parent's connections: ours is opened below, one, of our present ids. */
	for (struct shm_link *l = links; l != NULL; l = l->next) {
		close_link(l);
		l->refs = 0;
	}
	mine = shm_link_current();
	for (struct attachment *a = shm_attachments; a != NULL; a = a->next) {
		a->link = mine;
		if (mine != NULL)
			mine->refs++;
	}
	drop_unused(geteuid(), getegid());
	if (shm_attachments != NULL && mine != NULL)
		open_conn(mine, (int32_t)getppid());
	/*
	 * The mappings are ours now, but not the parent's userfaultfds (fork
	 * clears their registration in the child): each coherent one is
	 * handed to the pager anew, from a link of our own.
	 */
	shm_pager_forget();
	for (struct attachment *a = shm_attachments; a != NULL; a = a->next)
		if (a->coherent) {
			if (a->uffd >= 0)
				close(a->uffd);
			shm_pager_take(a);
		}
	if (fork_pipe[1] >= 0) {
		close(fork_pipe[0]);
		while (write(fork_pipe[1], "", 1) < 0 && errno == EINTR)
			;
		close(fork_pipe[1]);
		fork_pipe[0] = fork_pipe[1] = -1;
	}
	pthread_mutex_unlock(&lock);
	errno = saved;
}

static void
setup_once(void)
{
	pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);
}

void
shm_lock(void)
{
	pthread_once(&once, setup_once);
	pthread_mutex_lock(&lock);
}

void
shm_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

/* Learns how much one request may carry (dshmd --max-data). */
static bool
learn_limits(int fd)
{
	struct proto_request r = {.opcode = OP_HELLO};
	unsigned char body[PROTO_HELLO_LEN];
	struct proto_hello hello;

	if (client_call_unlocked(fd, &r, NULL, body, sizeof(body), NULL) != DSHM_SUCCESS)
		return false;
	proto_decode_hello(body, &hello);
	/* A window must hold at least a page and the write's own headers. */
	shm_max_data = hello.max_data < PROTO_MAX_DATA ? hello.max_data : PROTO_MAX_DATA;
	if (shm_max_data < (64u << 10))
		shm_max_data = 64u << 10;
	return true;
}

/* Tells the server who we are; over a Unix socket it knows already and says so. */
static bool
identify(int fd)
{
	unsigned char body[PROTO_IDENT_LEN], reply[PROTO_IDENT_LEN];
	struct proto_request r = {.opcode = OP_IDENT, .data_len = PROTO_IDENT_LEN};

	proto_put_u32(body, (uint32_t)getpid());
	proto_put_u32(body + 4, (uint32_t)geteuid());
	proto_put_u32(body + 8, (uint32_t)getegid());
	return client_call_unlocked(fd, &r, body, reply, sizeof(reply), NULL) == DSHM_SUCCESS;
}

/*
 * Opens l's connection; the attachments made on it are re-attached with
 * shm_lpid lpid (0: us).  Opened after an identity change it would carry
 * the new ids: such a link (all its attachments made before) re-attaches
 * them with the ids of now, which may refuse what the kernel would keep.
 */
static int
open_conn(struct shm_link *l, int32_t lpid)
{
	int fd;

	if (l->fd >= 0)
		return l->fd;
	fd = dshm_connect(server_addr);
	if (fd < 0) {
		/* A server this process does not trust is refused, not unreachable. */
		errno = fd == DSHM_WRONG_SERVER ? EACCES : fd == DSHM_BAD_ADDRESS ? EINVAL : EIO;
		return -1;
	}
	if (!identify(fd) || !learn_limits(fd)) {
		/* Taken and closed at once: a limit of the server's, not a failure to connect. */
		client_set_error("%s closed the connection before answering (as it does at its "
				 "--max-connections or this user's --max-connections-per-user, or it "
				 "stopped)",
				 shm_server_addr() != NULL ? shm_server_addr() : "the default socket");
		close(fd);
		errno = EIO;
		return -1;
	}
	l->fd = fd;
	l->pid = getpid();
	/*
	 * A connection that failed took its attachments with it (the server
	 * detached them): they are attached again on this one, once.  A
	 * failure in the middle closes it, and the next call starts over.
	 */
	if (l->refs > 0 && !reattaching) {
		reattaching = true;
		if (!shm_reattach_all(l, lpid))
			close_link(l);
		reattaching = false;
	}
	if (l->fd < 0) {
		errno = EIO;
		return -1;
	}
	return l->fd;
}

const char *
shm_server_addr(void)
{
	return server_addr != NULL ? server_addr : getenv("DSHM_SERVER");
}

const char *
shm_local_addr(void)
{
	const char *v = getenv("DSHM_LOCAL");

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int
shm_conn(void)
{
	struct shm_link *l = shm_link_current();

	if (l == NULL) {
		errno = ENOMEM;
		return -1;
	}
	return open_conn(l, 0);
}

/*
 * Whether the idle connection was closed by the server (its worker died,
 * or it stopped): a request is then never sent on it, so only a
 * connection that fails *during* a request leaves its outcome unknown.
 */
static bool
conn_dead(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};

	/* Between requests nothing may arrive: anything readable is an end. */
	return poll(&p, 1, 0) != 0;
}

/* One exchange on l's connection (opened if need be); a descriptor goes to *passed. */
static int
call_try(struct shm_link *l, struct proto_request *r, const void *data, void *body,
	 size_t body_cap, size_t *body_len, int *passed)
{
	int rc;

	if (passed != NULL)
		*passed = -1;
	if (l == NULL && (l = shm_link_current()) == NULL)
		return DSHM_NO_MEMORY;
	if (l->fd >= 0 && conn_dead(l->fd))
		close_link(l);
	if (open_conn(l, 0) < 0)
		return shm_conn_error();
	rc = client_call_fd(l->fd, r, data, body, body_cap, body_len, passed);
	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_VERSION_MISMATCH ||
	    rc == DSHM_DISCONNECTED_CLIENT)
		close_link(l);
	return rc;
}

/*
 * A request answered DSHM_BUSY did nothing: a lock it needed stayed held
 * past the server's bound by a worker that is stopped or slow (dshmd
 * kills one silent for --worker-stall).  It is asked again, with pauses
 * growing to 200 ms, for as long as the library's timeout, as the
 * kernel's own calls would wait for the lock; then EAGAIN.
 */
static int
call_once(struct shm_link *l, struct proto_request *r, const void *data, void *body,
	  size_t body_cap, size_t *body_len, int *passed)
{
	int64_t deadline = clock_now_ms() + client_timeout();
	long pause_ms = 5;
	int rc;

	while ((rc = call_try(l, r, data, body, body_cap, body_len, passed)) == DSHM_BUSY &&
	       clock_now_ms() + pause_ms < deadline) {
		struct timespec ts = {0, pause_ms * 1000000L};

		nanosleep(&ts, NULL);
		if (pause_ms < 200)
			pause_ms *= 2;
	}
	return rc;
}

int
shm_conn_error(void)
{
	return errno == EACCES ? DSHM_WRONG_SERVER
	       : errno == EINVAL ? DSHM_BAD_ADDRESS
				 : DSHM_DISCONNECTED_SERVER;
}

int
shm_call_once(struct shm_link *l, struct proto_request *r, const void *data, void *body,
	      size_t body_cap, size_t *body_len)
{
	return call_once(l, r, data, body, body_cap, body_len, NULL);
}

int
shm_call_fd(struct shm_link *l, struct proto_request *r, const void *data, void *body,
	    size_t body_cap, int *passed)
{
	int rc = call_once(l, r, data, body, body_cap, NULL, passed);

	/* Attaching again gives the same result: once more on a new connection, as shm_call does. */
	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_DISCONNECTED_CLIENT)
		rc = call_once(l, r, data, body, body_cap, NULL, passed);
	return rc;
}

int
shm_call(struct shm_link *l, struct proto_request *r, const void *data, void *body,
	 size_t body_cap, size_t *body_len)
{
	int rc = shm_call_once(l, r, data, body, body_cap, body_len);

	/*
	 * A connection that broke during the request (a worker died, the
	 * server restarted) is replaced once: the request is one that gives
	 * the same result when repeated, and the new connection has
	 * re-attached what we had.
	 */
	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_DISCONNECTED_CLIENT)
		rc = shm_call_once(l, r, data, body, body_cap, body_len);
	return rc;
}

int
shm_errno(int status)
{
	switch (status) {
	case DSHM_NOT_FOUND: return ENOENT;
	case DSHM_EXISTS: return EEXIST;
	case DSHM_INVALID: return EINVAL;
	case DSHM_ACCESS: return EACCES;
	case DSHM_NOT_PERMITTED: return EPERM;
	case DSHM_REMOVED: return EIDRM;
	case DSHM_NO_SPACE:
	case DSHM_USER_LIMIT: return ENOSPC; /* shmget of a user at its share; shmat says ENOMEM */
	case DSHM_ATTACH_FULL:
	case DSHM_NO_MEMORY: return ENOMEM;
	case DSHM_TOO_LARGE: return EINVAL;
	case DSHM_NOT_LOCAL: return EIO; /* a coherent attachment through TCP */
	case DSHM_HELD_REMOTELY: return EBUSY;
	case DSHM_WRONG_SERVER: return EACCES;
	case DSHM_BAD_ADDRESS: return EINVAL;
	case DSHM_BUSY: return EAGAIN; /* still busy after the library's timeout: nothing was done */
	default: return EIO; /* the server is unreachable, or failed */
	}
}

int
shm_fail(int status)
{
	errno = shm_errno(status);
	return -1;
}

int
dshm_set_server(const char *addr)
{
	char *copy = NULL;

	if (addr != NULL && (copy = strdup(addr)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	shm_lock();
	if (shm_attachments != NULL) {
		shm_unlock();
		free(copy);
		errno = EBUSY;
		return -1;
	}
	free(server_addr);
	server_addr = copy;
	for (struct shm_link *l = links; l != NULL; l = l->next)
		close_link(l);
	shm_unlock();
	return 0;
}
