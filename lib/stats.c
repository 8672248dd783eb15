/*
 * stats.c — dshm_stats: the server's live counters, as the text a STATS
 * request returns.
 */
#include <stdlib.h>

#include "client.h"
#include "dshm.h"

#define STATS_MAX (64u << 10)

int
dshm_stats(int server_socket, char **text)
{
	struct proto_request r = {.opcode = OP_STATS};
	size_t len = 0;
	char *buf;
	int rc;

	if (text == NULL)
		return DSHM_BAD_REQUEST;
	*text = NULL;
	if ((buf = malloc(STATS_MAX + 1)) == NULL)
		return DSHM_NO_MEMORY;
	rc = client_call(server_socket, &r, NULL, buf, STATS_MAX, &len);
	if (rc != DSHM_SUCCESS) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*text = buf;
	return DSHM_SUCCESS;
}
