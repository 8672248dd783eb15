/*
 * auth.c — the client's half of --auth-file's challenge-response: the
 * credential (dshm_set_auth, else $DSHM_AUTH_FILE) and the exchange that
 * dshm_connect runs on a new TCP connection.
 *
 * Invariant: the key is kept in memory libsodium locks and wipes, and is
 * only ever fed to HMAC-SHA256; it never travels.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dshm.h"

#define AUTH_CONTEXT "dshm-auth-v1"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char cred_name[PROTO_AUTH_NAME_MAX + 1];
static unsigned char *cred_key; /* sodium_malloc'd, crypto_auth_hmacsha256_KEYBYTES */
static bool cred_set, env_read;

/* Stores name and key; with the lock held. */
static int
store(const char *name, const unsigned char *key)
{
	if (name == NULL) {
		cred_set = false;
		return DSHM_SUCCESS;
	}
	if (strlen(name) > PROTO_AUTH_NAME_MAX || sodium_init() < 0)
		return DSHM_BAD_REQUEST;
	if (cred_key == NULL && (cred_key = sodium_malloc(crypto_auth_hmacsha256_KEYBYTES)) == NULL)
		return DSHM_NO_MEMORY;
	snprintf(cred_name, sizeof(cred_name), "%s", name);
	memcpy(cred_key, key, crypto_auth_hmacsha256_KEYBYTES);
	cred_set = true;
	return DSHM_SUCCESS;
}

int
dshm_set_auth(const char *name, const unsigned char key[32])
{
	int rc;

	pthread_mutex_lock(&lock);
	env_read = true; /* an explicit choice overrides the environment */
	rc = store(name, key);
	pthread_mutex_unlock(&lock);
	return rc;
}

/* Reads $DSHM_AUTH_FILE's "NAME HEXKEY" once; with the lock held. */
static void
read_env(void)
{
	const char *path = getenv("DSHM_AUTH_FILE");
	char line[256], name[PROTO_AUTH_NAME_MAX + 2], hex[2 * 32 + 2];
	unsigned char key[32];
	size_t len;
	FILE *f;

	env_read = true;
	if (path == NULL || (f = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%65s %65s", name, hex) == 2 && sodium_init() >= 0 &&
		    sodium_hex2bin(key, sizeof(key), hex, strlen(hex), NULL, &len, NULL) == 0 &&
		    len == sizeof(key))
			store(name, key);
		break;
	}
	sodium_memzero(line, sizeof(line));
	sodium_memzero(hex, sizeof(hex));
	sodium_memzero(key, sizeof(key));
	fclose(f);
}

/* One step of OP_AUTH; reply goes to body (exactly cap bytes). */
static int
step(int fd, uint32_t which, const void *data, size_t len, void *body, size_t cap)
{
	unsigned char msg[4 + PROTO_AUTH_NAME_MAX + PROTO_AUTH_MAC_LEN];
	struct proto_request r = {.opcode = OP_AUTH, .data_len = (uint32_t)(4 + len)};

	proto_put_u32(msg, which);
	memcpy(msg + 4, data, len);
	return client_call(fd, &r, msg, body, cap, NULL);
}

int
client_authenticate(int fd)
{
	unsigned char nonce[PROTO_AUTH_NONCE_LEN], mac[PROTO_AUTH_MAC_LEN], ids[8];
	unsigned char msg[sizeof(AUTH_CONTEXT) - 1 + PROTO_AUTH_NONCE_LEN + PROTO_AUTH_NAME_MAX];
	char name[PROTO_AUTH_NAME_MAX + 1];
	size_t n, len = sizeof(AUTH_CONTEXT) - 1;
	int rc;

	pthread_mutex_lock(&lock);
	if (!env_read)
		read_env();
	if (!cred_set) {
		pthread_mutex_unlock(&lock);
		return DSHM_SUCCESS; /* nothing to present: the server may not ask */
	}
	snprintf(name, sizeof(name), "%s", cred_name);
	pthread_mutex_unlock(&lock);
	/* No lock across the network: other connections need not wait for this one. */
	n = strlen(name);
	rc = step(fd, PROTO_AUTH_CHALLENGE, name, n, nonce, sizeof(nonce));
	if (rc == DSHM_SUCCESS) {
		memcpy(msg, AUTH_CONTEXT, len);
		memcpy(msg + len, nonce, sizeof(nonce));
		memcpy(msg + len + sizeof(nonce), name, n);
		pthread_mutex_lock(&lock);
		if (!cred_set || strcmp(cred_name, name) != 0)
			rc = DSHM_AUTH_FAILED; /* the credential changed meanwhile */
		else
			crypto_auth_hmacsha256(mac, msg, len + sizeof(nonce) + n, cred_key);
		pthread_mutex_unlock(&lock);
	}
	/* A server without --auth-file has nothing to check: it says BAD_REQUEST. */
	if (rc == DSHM_BAD_REQUEST)
		return DSHM_SUCCESS;
	if (rc != DSHM_SUCCESS)
		return rc;
	rc = step(fd, PROTO_AUTH_PROVE, mac, sizeof(mac), ids, sizeof(ids));
	/* A user holding its share of connections proved who it is, and is told so. */
	return rc == DSHM_SUCCESS || rc == DSHM_USER_LIMIT ? rc : DSHM_AUTH_FAILED;
}
