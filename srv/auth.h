/*
 * auth.h — --auth-file: shared secrets for clients the kernel cannot
 * identify (TCP from other hosts), checked with a challenge-response.
 *
 * The file has one credential per line, "NAME UID GID KEY", KEY being 64
 * hex digits (32 bytes); blank lines and lines starting with '#' are
 * skipped.  It must belong to the user running dshmd and be readable by
 * nobody else.  A client proves it knows NAME's key by returning
 * HMAC-SHA256(key, "dshm-auth-v1" || nonce || NAME) for a fresh random
 * nonce; it then acts as UID and GID, whatever it says of itself.
 */
#ifndef DSHM_SRV_AUTH_H
#define DSHM_SRV_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE_LEN 32
#define AUTH_MAC_LEN 32
#define AUTH_NAME_MAX 64

/* Loads path.  Returns 0, or -1 with a message naming the file and the line. */
int auth_load(const char *path, char *err, size_t errlen);

/* Whether a file was loaded: then unidentified clients must authenticate. */
bool auth_enabled(void);

/* Fills nonce with fresh random bytes. */
void auth_challenge(unsigned char nonce[AUTH_NONCE_LEN]);

/*
 * Checks mac for name and nonce in constant time; on success stores the
 * credential's uid and gid.  An unknown name fails like a wrong key.
 */
bool auth_verify(const char *name, size_t name_len, const unsigned char nonce[AUTH_NONCE_LEN],
		 const unsigned char mac[AUTH_MAC_LEN], uint32_t *uid, uint32_t *gid);

#endif /* DSHM_SRV_AUTH_H */
