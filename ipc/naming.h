/*
 * naming.h — how dshm names things, shared by dshmd, libdshm and the tools
 * so that all of them agree: the default Unix socket, the System V key
 * derived from a socket path, and the parsing of "HOST:PORT" addresses.
 */
#ifndef DSHM_IPC_NAMING_H
#define DSHM_IPC_NAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define NAMING_DEFAULT_TCP "127.0.0.1:8080"

/*
 * The default Unix socket: $XDG_RUNTIME_DIR/dshm.sock when that is set,
 * else /tmp/dshm-UID.sock.  Returns false if it does not fit in len.
 */
bool naming_default_socket(char *out, size_t len);

/*
 * The control table's key for a Unix socket path: 0x64 ('d') in the top
 * byte, a hash of the canonical path below (its directory's real path
 * and its name), never IPC_PRIVATE.  Every spelling of one path ("x",
 * "./x", "/tmp/../tmp/x" seen from /tmp) gives the same key.
 */
key_t naming_key_for_socket(const char *path);

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
