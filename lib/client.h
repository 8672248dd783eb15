/*
 * client.h — libdshm's internal transport: one request, one reply, on a
 * blocking socket, bounded by the library's timeout.
 */
#ifndef DSHM_LIB_CLIENT_H
#define DSHM_LIB_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "proto.h"

/*
 * Sends request r (with data_len bytes of data after its arguments) on fd
 * and receives its reply.  A successful reply's body goes to body: exactly
 * body_cap bytes when body_len is NULL, else at most body_cap bytes, its
 * length stored in *body_len.  Returns the reply's status, or
 * DSHM_DISCONNECTED_SERVER / DSHM_VERSION_MISMATCH when the exchange
 * failed (including a successful reply whose body is not exactly
 * body_cap bytes); then the socket is shut down, since its stream is out
 * of step.
 * Calls on one socket are serialised, so threads may share it.
 */
int client_call(int fd, struct proto_request *r, const void *data, void *body,
		size_t body_cap, size_t *body_len);

/*
 * The same without the per-socket serialisation, for a caller that
 * serialises its own socket (and must not wait on a lock that a fork may
 * have left held).
 */
int client_call_unlocked(int fd, struct proto_request *r, const void *data, void *body,
			 size_t body_cap, size_t *body_len);

/*
 * Authenticates a new TCP connection with the credential of
 * dshm_set_auth or $DSHM_AUTH_FILE, when there is one and the server
 * asks for it.  Returns DSHM_SUCCESS, DSHM_AUTH_FAILED, or the failure of
 * the exchange.
 */
int client_authenticate(int fd);

/*
 * client_call_unlocked for a reply that may carry a descriptor
 * (SHM_MAP): it goes to *passed (-1 when none came, or the call failed).
 */
int client_call_fd(int fd, struct proto_request *r, const void *data, void *body,
		   size_t body_cap, size_t *body_len, int *passed);

/*
 * Only the reply to r (already sent by the caller), with client_call's
 * rules, a descriptor that comes with it going to *passed.
 */
int client_recv_reply(int fd, const struct proto_request *r, void *body, size_t body_cap,
		      size_t *body_len, int *passed);

/*
 * Whether the server on the Unix socket fd (at path) runs as a user this
 * process trusts: $DSHM_SERVER_UID's, else this process's own or root
 * (SO_PEERCRED).  DSHM_SUCCESS, or DSHM_WRONG_SERVER with the last error
 * naming both uids.
 */
int client_check_server(int fd, const char *path);

/* Sets this thread's dshm_last_error text. */
void client_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Serialises a caller's exchanges on fd with client_call's (fd >= 0). */
void client_lock_socket(int fd);
void client_unlock_socket(int fd);

/* The transport alone, for callers that keep several requests in flight. */
int64_t client_deadline(void); /* now + the library's timeout, in clock_now_ms() time */
/* The next request id, from a counter of the process's (client_call's come from it too). */
uint32_t client_new_id(void);
/* Sends all of iov (which it changes); false when the socket failed or the deadline passed. */
bool client_send(int fd, struct iovec *iov, int iovcnt, int64_t deadline);
/* Receives exactly len bytes; false on end of stream, failure or the deadline. */
bool client_recv(int fd, void *buf, size_t len, int64_t deadline);

/* The library's timeout in milliseconds (dshm_set_timeout, $DSHM_TIMEOUT_MS, else 30 s). */
int client_timeout(void);

/* Waits until fd is ready for events or the deadline passes; false on the deadline or an error. */
bool client_wait_ready(int fd, short events, int64_t deadline);

#endif /* DSHM_LIB_CLIENT_H */
