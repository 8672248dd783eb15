/*
 * errors.c — descriptions of libdshm's status codes.
 */
#include "dshm.h"

const char *
dshm_strerror(int code)
{
	switch (code) {
	case DSHM_SUCCESS: return "success";
	case DSHM_ERROR: return "server error";
	case DSHM_DISCONNECTED_CLIENT: return "client socket unusable";
	case DSHM_DISCONNECTED_SERVER: return "server disconnected or timed out";
	case DSHM_NO_SPACE: return "not enough free frames";
	case DSHM_OUT_OF_FRAME: return "offset outside the frame";
	case DSHM_PAGE_FAULT: return "page not owned by the process";
	case DSHM_SEGMENTATION_FAULT: return "range runs past the process's pages";
	case DSHM_NO_SUCH_PROCESS: return "no such process";
	case DSHM_PROCESS_EXISTS: return "process already exists";
	case DSHM_BAD_REQUEST: return "bad request";
	case DSHM_TOO_LARGE: return "request or reply too large";
	case DSHM_VERSION_MISMATCH: return "protocol version mismatch";
	case DSHM_TABLE_FULL: return "process table full";
	case DSHM_NO_MEMORY: return "client out of memory";
	case DSHM_NOT_FOUND: return "no segment with that key";
	case DSHM_EXISTS: return "a segment with that key exists";
	case DSHM_INVALID: return "invalid segment id, size, command or range";
	case DSHM_ACCESS: return "the segment's mode denies access";
	case DSHM_NOT_PERMITTED: return "not permitted: another user's process or segment";
	case DSHM_REMOVED: return "segment removed";
	case DSHM_ATTACH_FULL: return "attachment table full";
	case DSHM_AUTH_REQUIRED: return "the server wants this client to authenticate";
	case DSHM_AUTH_FAILED: return "authentication failed";
	case DSHM_NOT_LOCAL: return "the server's memory can be mapped only through its Unix socket";
	case DSHM_USER_LIMIT:
		return "this user holds its share of the server (connections, table slots or "
		       "attachments; see dshmd --max-*-per-user)";
	case DSHM_BAD_ADDRESS:
		return "bad server address (HOST:PORT, [V6ADDR]:PORT or unix:PATH; see dshm_last_error)";
	case DSHM_WRONG_SERVER:
		return "the server runs as a user not trusted (see DSHM_SERVER_UID)";
	case DSHM_BUSY:
		return "busy: a lock stayed held past the server's bound (its holder is stopped or "
		       "slow); nothing was done; try again";
	case DSHM_HELD_REMOTELY:
		return "other hosts hold pages of the segment: its bytes are reached through coherent "
		       "attachments only";
	default: return "unknown status code";
	}
}
