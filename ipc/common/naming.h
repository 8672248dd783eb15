/*
 * naming.h — how dshm names things, shared by dshmd, libdshm and the tools
 * so that all of them agree: the default Unix socket, the System V key
 * derived from a socket path, and the parsing of "HOST:PORT" addresses.
 */
#ifndef DSHM_IPC_NAMING_H
#define DSHM_IPC_NAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/types.h>

#define NAMING_DEFAULT_TCP "127.0.0.1:8080"

/* Root's default directory: /run is root's alone, so nobody else can make it first. */
#define NAMING_ROOT_DIR "/run/dshm"

/*
 * The default Unix socket, in a directory no other user can create or
 * write: for root (effective uid 0) NAMING_ROOT_DIR/dshm.sock; for
 * another user $XDG_RUNTIME_DIR/dshm.sock when that is an absolute path,
 * else /tmp/dshm-UID/dshm.sock (a directory of the user's own, mode
 * 0700, that naming_private_dir makes and checks).  Never a bare name
 * in /tmp, which another user could take first.  Returns false if it
 * does not fit in len.
 */
bool naming_default_socket(char *out, size_t len);

/* The same for a given effective uid and $XDG_RUNTIME_DIR (NULL: unset). */
bool naming_default_socket_for(uid_t euid, const char *xdg, char *out, size_t len);

/*
 * Makes sure the directory of a default socket (NAMING_ROOT_DIR, or
 * /tmp/dshm-UID) is this user's own: made with mode 0755 (root) or 0700
 * when missing; when present it must be a directory, not a symlink,
 * owned by this user and writable by nobody else.  Other directories
 * ($XDG_RUNTIME_DIR, the system's) are left alone.  False with why in
 * err when it is not.
 */
bool naming_private_dir(const char *socket_path, char *err, size_t errlen);

/*
 * The control table's key for a Unix socket path: 0x64 ('d') in the top
 * byte, a hash of the canonical path below (its directory's real path
 * and its name), never IPC_PRIVATE.  Every spelling of one path ("x",
 * "./x", "/tmp/../tmp/x" seen from /tmp) gives the same key.
 */
key_t naming_key_for_socket(const char *path);

/*
 * A System V key as the tools and dshmd take it (--key, -M): a 32-bit
 * number, decimal or 0x hex, negative as the kernel prints some; false
 * for anything else.  0 (IPC_PRIVATE) parses: the caller says whether it
 * may be one.
 */
bool naming_parse_key(const char *text, key_t *key);

/*
 * The canonical form of a path that may not exist yet: its directory's
 * real path and its name (from the cwd when the directory is missing).
 * Returns out, or path itself when the result does not fit.
 */
const char *naming_canonical_path(const char *path, char *out, size_t len);

/*
 * Splits "HOST:PORT" or "[V6ADDR]:PORT" into host and port.  Returns false
 * when the text is not of that form or a part does not fit.
 */
bool naming_split_hostport(const char *addr, char *host, size_t hostlen,
			   char *port, size_t portlen);

#endif /* DSHM_IPC_NAMING_H */
