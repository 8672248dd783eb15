/*
 * auth.c — the credentials of --auth-file and their challenge-response
 * (see auth.h), on libsodium's HMAC-SHA256 and random bytes.
 *
 * Invariants: keys are compared only by crypto_auth_hmacsha256_verify
 * (constant time), and an unknown name costs the same work as a known
 * one, so neither a key nor the list of names leaks through timing.  The
 * credentials are loaded by the master before it forks and never change.
 */
#include "auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTH_MAX 256
#define AUTH_CONTEXT "dshm-auth-v1"

struct credential {
	char name[AUTH_NAME_MAX + 1];
	uint32_t uid, gid;
	unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
};

static struct credential creds[AUTH_MAX];
static int ncreds = -1; /* -1: no file */

static int
parse_line(char *line, struct credential *c, char *why, size_t whylen)
{
	char name[AUTH_NAME_MAX + 2], hex[2 * sizeof(c->key) + 2];
	unsigned long uid, gid;
	size_t keylen;

	if (sscanf(line, "%65s %lu %lu %65s", name, &uid, &gid, hex) != 4) {
		snprintf(why, whylen, "not NAME UID GID KEY");
		return -1;
	}
	if (strlen(name) > AUTH_NAME_MAX || uid >= UINT32_MAX || gid >= UINT32_MAX) {
		snprintf(why, whylen, "name longer than %d bytes, or uid or gid out of range",
			 AUTH_NAME_MAX);
		return -1;
	}
	if (sodium_hex2bin(c->key, sizeof(c->key), hex, strlen(hex), NULL, &keylen, NULL) != 0 ||
	    keylen != sizeof(c->key)) {
		snprintf(why, whylen, "the key is not %zu hex digits", 2 * sizeof(c->key));
		return -1;
	}
	memcpy(c->name, name, strlen(name) + 1); /* at most AUTH_NAME_MAX + 1: checked above */
	c->uid = (uint32_t)uid;
	c->gid = (uint32_t)gid;
	return 0;
}

int
auth_load(const char *path, char *err, size_t errlen)
{
	char line[512], why[128];
	struct stat st;
	int lineno = 0;
	FILE *f;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "sodium_init failed");
		return -1;
	}
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "--auth-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "--auth-file %s must belong to uid %u and be readable by it "
			 "alone (chmod 600)", path, (unsigned)geteuid());
		fclose(f);
		return -1;
	}
	ncreds = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line + strspn(line, " \t");

		lineno++;
		if (*p == '#' || *p == '\n' || *p == '\0')
			continue;
		if (ncreds == AUTH_MAX || parse_line(p, &creds[ncreds], why, sizeof(why)) < 0) {
			if (ncreds == AUTH_MAX)
				snprintf(why, sizeof(why), "more than %d credentials", AUTH_MAX);
			snprintf(err, errlen, "--auth-file %s, line %d: %s", path, lineno, why);
			sodium_memzero(line, sizeof(line));
			fclose(f);
			ncreds = -1;
			return -1;
		}
		ncreds++;
	}
	sodium_memzero(line, sizeof(line));
	fclose(f);
	if (ncreds == 0) {
		snprintf(err, errlen, "--auth-file %s holds no credential", path);
		ncreds = -1;
		return -1;
	}
	return 0;
}

bool
auth_enabled(void)
{
	return ncreds > 0;
}

void
auth_challenge(unsigned char nonce[AUTH_NONCE_LEN])
{
	randombytes_buf(nonce, AUTH_NONCE_LEN);
}

bool
auth_verify(const char *name, size_t name_len, const unsigned char nonce[AUTH_NONCE_LEN],
	    const unsigned char mac[AUTH_MAC_LEN], uint32_t *uid, uint32_t *gid)
{
	static const unsigned char no_key[crypto_auth_hmacsha256_KEYBYTES];
	unsigned char msg[sizeof(AUTH_CONTEXT) - 1 + AUTH_NONCE_LEN + AUTH_NAME_MAX];
	const struct credential *found = NULL;
	size_t len = sizeof(AUTH_CONTEXT) - 1;
	bool ok;

	if (name_len > AUTH_NAME_MAX || ncreds <= 0)
		return false;
	for (int i = 0; i < ncreds; i++)
		if (strlen(creds[i].name) == name_len && memcmp(creds[i].name, name, name_len) == 0)
			found = &creds[i];
	memcpy(msg, AUTH_CONTEXT, len);
	memcpy(msg + len, nonce, AUTH_NONCE_LEN);
	memcpy(msg + len + AUTH_NONCE_LEN, name, name_len);
	len += AUTH_NONCE_LEN + name_len;
	/* An unknown name is checked against a key nobody has: the same work, and a failure. */
	ok = crypto_auth_hmacsha256_verify(mac, msg, len, found ? found->key : no_key) == 0;
	if (!ok || found == NULL)
		return false;
	*uid = found->uid;
	*gid = found->gid;
	return true;
}
