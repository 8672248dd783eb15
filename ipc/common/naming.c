/*
 * naming.c — default socket path, key derivation and address parsing
 * (see naming.h).  The key hash is FNV-1a: stable across builds and
 * machines, so the tools find a server's table from its socket path.
 */
#include "naming.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool
naming_default_socket_for(uid_t euid, const char *xdg, char *out, size_t len)
{
	int n;

	if (euid == 0)
		n = snprintf(out, len, NAMING_ROOT_DIR "/dshm.sock");
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, len, "%s/dshm.sock", xdg);
	else
		n = snprintf(out, len, "/tmp/dshm-%u/dshm.sock", (unsigned)euid);
	return n > 0 && (size_t)n < len;
}

bool
naming_default_socket(char *out, size_t len)
{
	return naming_default_socket_for(geteuid(), getenv("XDG_RUNTIME_DIR"), out, len);
}

bool
naming_private_dir(const char *socket_path, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp_dir[64];
	const char *slash = strrchr(socket_path, '/');
	uid_t me = geteuid();
	struct stat st;

	if (slash == NULL || (size_t)(slash - socket_path) >= sizeof(dir))
		return true;
	memcpy(dir, socket_path, (size_t)(slash - socket_path));
	dir[slash - socket_path] = '\0';
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/dshm-%u", (unsigned)me);
	if (strcmp(dir, NAMING_ROOT_DIR) != 0 && strcmp(dir, tmp_dir) != 0)
		return true; /* not a directory of ours to make */
	if (mkdir(dir, me == 0 ? 0755 : 0700) == 0)
		return true;
	if (errno != EEXIST) {
		snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
		return false;
	}
	if (lstat(dir, &st) != 0) {
		snprintf(err, errlen, "cannot look at %s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != me || (st.st_mode & 022) != 0) {
		snprintf(err, errlen,
			 "%s is not a directory of uid %u's own writable by nobody else (it is %s, "
			 "uid %u, mode %04o): another user may have made it first; remove it, or "
			 "give --unix",
			 dir, (unsigned)me, S_ISLNK(st.st_mode) ? "a symlink" : S_ISDIR(st.st_mode) ? "a directory" : "a file",
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

/*
 * The canonical name of a path that may not exist yet: the real
 * path of its directory (symlinks, "." and ".." resolved), then its last
 * component.  Without such a directory, the path from the cwd.
 */
const char *
naming_canonical_path(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *base = slash != NULL ? slash + 1 : path;
	size_t dl = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);

	if (dl < sizeof(dir)) {
		memcpy(dir, slash == NULL ? "." : path, dl);
		dir[dl] = '\0';
		if (realpath(dir, real) != NULL &&
		    (size_t)snprintf(out, len, "%s/%s", strcmp(real, "/") == 0 ? "" : real,
				     base) < len)
			return out;
	}
	/* No such directory (yet): a relative path is taken from the cwd. */
	if (path[0] != '/' && getcwd(real, sizeof(real)) != NULL &&
	    (size_t)snprintf(out, len, "%s/%s", real, path) < len)
		return out;
	return path;
}

key_t
naming_key_for_socket(const char *path)
{
	char buf[PATH_MAX + 2];
	uint32_t h = 2166136261u;

	for (const char *p = naming_canonical_path(path, buf, sizeof(buf)); *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	h = (h ^ (h >> 24)) & 0x00ffffffu;
	return (key_t)(0x64000000u | (h == 0 ? 1 : h));
}

bool
naming_split_hostport(const char *addr, char *host, size_t hostlen, char *port,
		      size_t portlen)
{
	const char *colon, *hs = addr;
	size_t hl;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (close == NULL || close[1] != ':')
			return false;
		hs = addr + 1;
		hl = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return false;
		hl = (size_t)(colon - addr);
	}
	if (hl == 0 || hl >= hostlen || colon[1] == '\0' || strlen(colon + 1) >= portlen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return true;
}

bool
naming_parse_key(const char *text, key_t *key)
{
	char *end;
	long long k;

	errno = 0;
	k = strtoll(text, &end, 0);
	if (errno != 0 || end == text || *end != '\0' || k < INT32_MIN || k > UINT32_MAX)
		return false;
	*key = (key_t)(int32_t)(uint32_t)k;
	return true;
}
