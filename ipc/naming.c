/*
 * naming.c — default socket path, key derivation and address parsing
 * (see naming.h).  The key hash is FNV-1a: stable across builds and
 * machines, so the tools find a server's table from its socket path.
 */
#include "naming.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool
naming_default_socket(char *out, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, len, "%s/dshm.sock", xdg);
	else
		n = snprintf(out, len, "/tmp/dshm-%u.sock", (unsigned)getuid());
	return n > 0 && (size_t)n < len;
}

key_t
naming_key_for_socket(const char *path)
{
	char abs[PATH_MAX + 2];
	uint32_t h = 2166136261u;
	const char *p = path;

	/* A relative path names the same socket as its absolute form. */
	if (path[0] != '/') {
		char cwd[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd)) != NULL &&
		    (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, path) < sizeof(abs))
			p = abs;
	}
	for (; *p != '\0'; p++) {
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
	strcpy(port, colon + 1);
	return true;
}
