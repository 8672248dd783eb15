/*
 * shm_calls.c — dshm_shmget, dshm_shmctl, dshm_read and dshm_write: one
 * request each (or one per window of the server's max_data), errors turned into
 * errno as the kernel's calls set it.
 *
 * The kernel copies struct shmid_ds from the caller before it looks the
 * id up (IPC_SET) and to the caller after (IPC_STAT and the others), so a
 * NULL buf is EFAULT at those same points here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dshm.h"
#include "shm_internal.h"

int
dshm_shmget(key_t key, size_t size, int shmflg)
{
	unsigned char body[PROTO_SHM_GET_LEN], reply[4];
	struct proto_request r = {.opcode = OP_SHM_GET, .data_len = sizeof(body)};
	int rc;

	proto_put_u32(body, (uint32_t)key);
	proto_put_u32(body + 4, (uint32_t)shmflg);
	proto_put_u64(body + 8, size);
	shm_lock();
	/* Creating twice is not the same as once: only a lookup is retried. */
	if (key == IPC_PRIVATE || (shmflg & IPC_CREAT))
		rc = shm_call_once(NULL, &r, body, reply, sizeof(reply), NULL);
	else
		rc = shm_call(NULL, &r, body, reply, sizeof(reply), NULL);
	shm_unlock();
	if (rc != DSHM_SUCCESS)
		return shm_fail(rc);
	return (int)proto_get_u32(reply);
}

static void
decode_stat(const unsigned char *p, struct shmid_ds *ds)
{
	memset(ds, 0, sizeof(*ds));
	ds->shm_perm.__key = (key_t)proto_get_u32(p + 4);
	ds->shm_perm.__seq = (unsigned short)proto_get_u32(p + 8);
	ds->shm_perm.mode = (unsigned short)proto_get_u32(p + 12);
	ds->shm_perm.uid = proto_get_u32(p + 16);
	ds->shm_perm.gid = proto_get_u32(p + 20);
	ds->shm_perm.cuid = proto_get_u32(p + 24);
	ds->shm_perm.cgid = proto_get_u32(p + 28);
	ds->shm_segsz = proto_get_u64(p + 32);
	ds->shm_atime = (time_t)proto_get_u64(p + 40);
	ds->shm_dtime = (time_t)proto_get_u64(p + 48);
	ds->shm_ctime = (time_t)proto_get_u64(p + 56);
	ds->shm_cpid = (pid_t)proto_get_u32(p + 64);
	ds->shm_lpid = (pid_t)proto_get_u32(p + 68);
	ds->shm_nattch = proto_get_u64(p + 72);
}

static void
decode_info(const unsigned char *p, int cmd, void *buf)
{
	uint64_t v[8];

	for (int i = 0; i < 8; i++)
		v[i] = proto_get_u64(p + 8 * i);
	if (cmd == IPC_INFO) {
		struct shminfo *si = buf;

		memset(si, 0, sizeof(*si));
		si->shmmax = v[0];
		si->shmmin = v[1];
		si->shmmni = v[2];
		si->shmseg = v[3];
		si->shmall = v[4];
	} else {
		struct shm_info *si = buf;

		memset(si, 0, sizeof(*si));
		si->used_ids = (int)v[5];
		si->shm_tot = v[6];
		si->shm_rss = v[7];
	}
}

int
dshm_shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
	unsigned char body[PROTO_SHM_CTL_LEN] = {0}, reply[PROTO_SHM_CTL_REPLY_LEN];
	struct proto_request r = {.opcode = OP_SHM_CTL, .data_len = sizeof(body)};
	bool copies_out = cmd == IPC_STAT || cmd == SHM_STAT || cmd == SHM_STAT_ANY ||
			  cmd == IPC_INFO || cmd == SHM_INFO;
	int rc;

	if (shmid < 0 || cmd < 0) {
		errno = EINVAL;
		return -1;
	}
	if (cmd == IPC_SET) {
		if (buf == NULL) {
			errno = EFAULT;
			return -1;
		}
		proto_put_u32(body + 8, buf->shm_perm.uid);
		proto_put_u32(body + 12, buf->shm_perm.gid);
		proto_put_u32(body + 16, buf->shm_perm.mode);
	}
	proto_put_u32(body, (uint32_t)shmid);
	proto_put_u32(body + 4, (uint32_t)cmd);
	shm_lock();
	/* A removal done once and tried again would say EINVAL. */
	if (cmd == IPC_RMID)
		rc = shm_call_once(NULL, &r, body, reply, sizeof(reply), NULL);
	else
		rc = shm_call(NULL, &r, body, reply, sizeof(reply), NULL);
	shm_unlock();
	if (rc != DSHM_SUCCESS)
		return shm_fail(rc);
	if (copies_out) {
		if (buf == NULL) {
			errno = EFAULT;
			return -1;
		}
		if (cmd == IPC_INFO || cmd == SHM_INFO)
			decode_info(reply + 4, cmd, buf);
		else
			decode_stat(reply + 4, buf);
	}
	return (int)proto_get_u32(reply);
}

ssize_t
dshm_read(int shmid, size_t offset, void *buf, size_t len)
{
	unsigned char body[PROTO_SHM_READ_LEN] = {0};
	size_t done = 0, cap = len < PROTO_MAX_DATA ? len : PROTO_MAX_DATA;
	unsigned char *reply;
	int rc = DSHM_SUCCESS;

	if (shmid < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((reply = malloc(PROTO_SHM_READ_REPLY_LEN + cap)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	shm_lock();
	/* Connected first: the windows are the server's max_data. */
	if (shm_conn() < 0)
		rc = shm_conn_error();
	while (rc == DSHM_SUCCESS && (done < len || len == 0)) {
		size_t win = shm_max_data, n = len - done < win ? len - done : win;
		struct proto_request r = {.opcode = OP_SHM_READ, .data_len = sizeof(body)};

		proto_put_u32(body, (uint32_t)shmid);
		proto_put_u64(body + 8, offset + done);
		proto_put_u64(body + 16, n);
		rc = shm_call(NULL, &r, body, reply, PROTO_SHM_READ_REPLY_LEN + n, NULL);
		if (rc == DSHM_SUCCESS) {
			memcpy((unsigned char *)buf + done, reply + PROTO_SHM_READ_REPLY_LEN, n);
			done += n;
		}
		if (len == 0)
			break;
	}
	shm_unlock();
	free(reply);
	return rc == DSHM_SUCCESS ? (ssize_t)len : shm_fail(rc);
}

ssize_t
dshm_write(int shmid, size_t offset, const void *buf, size_t len)
{
	unsigned char body[PROTO_SHM_WRITE_LEN + PROTO_SHM_RUN_LEN], reply[PROTO_SHM_WRITE_REPLY_LEN];
	size_t done = 0;
	int rc = DSHM_SUCCESS;

	if (shmid < 0) {
		errno = EINVAL;
		return -1;
	}
	shm_lock();
	/* Connected first: the chunks are the server's max_data. */
	if (shm_conn() < 0)
		rc = shm_conn_error();
	while (rc == DSHM_SUCCESS && (done < len || len == 0)) {
		size_t chunk = shm_max_data - sizeof(body), n = len - done < chunk ? len - done : chunk;
		struct proto_request r = {.opcode = OP_SHM_WRITE, .data_len = sizeof(body)};
		unsigned char *msg = malloc(sizeof(body) + n);

		if (msg == NULL) {
			rc = DSHM_NO_MEMORY;
			break;
		}
		proto_put_u32(body, (uint32_t)shmid);
		proto_put_u32(body + 4, 1);
		proto_put_u64(body + 8, 0);
		proto_put_u64(body + PROTO_SHM_WRITE_LEN, offset + done);
		proto_put_u64(body + PROTO_SHM_WRITE_LEN + 8, n);
		memcpy(msg, body, sizeof(body));
		memcpy(msg + sizeof(body), (const unsigned char *)buf + done, n);
		r.data_len = (uint32_t)(sizeof(body) + n);
		/* Not repeated: see push() in shm_attach.c. */
		rc = shm_call_once(NULL, &r, msg, reply, sizeof(reply), NULL);
		free(msg);
		done += n;
		if (len == 0)
			break;
	}
	shm_unlock();
	return rc == DSHM_SUCCESS ? (ssize_t)len : shm_fail(rc);
}
