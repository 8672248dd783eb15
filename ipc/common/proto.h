/*
 * proto.h — dshm's wire protocol, one codec for dshmd and libdshm.
 *
 * Every message is a 16-byte header in network byte order followed by
 * len bytes of body:
 *
 *   magic u16 (0xD54D) | version u8 | opcode u8 | id u32 | status i32 | len u32
 *
 * magic and version keep these offsets in every protocol version, so a
 * peer of another version is recognised and told so.  Requests carry
 * status 0; replies carry the request's opcode and id and a DSHM_* status.
 * Requests on one connection are answered in order.  docs/PROTOCOL.md
 * describes each body.
 */
#ifndef DSHM_IPC_PROTO_H
#define DSHM_IPC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0xD54Du
#define PROTO_VERSION 1
#define PROTO_HEADER_LEN 16

/* Largest data a read or write carries, and the largest body at all. */
#define PROTO_MAX_DATA (16u << 20)
#define PROTO_MAX_BODY (PROTO_MAX_DATA + 64u)

enum proto_opcode {
	OP_HELLO = 1,         /* -> u32 frame_size, u32 max_data, u64 nframes, u64 frames_free */
	OP_PROC_INIT = 2,     /* i32 pid, i32 pages */
	OP_PROC_ASSIGN = 3,   /* i32 pid, i32 pages */
	OP_PROC_FINALIZE = 4, /* i32 pid */
	OP_PROC_WRITE = 5,    /* i32 pid, i32 page, i32 offset, i32 size, size bytes */
	OP_PROC_READ = 6,     /* i32 pid, i32 page, i32 offset, i32 size -> size bytes */
	OP_STATS = 7,         /* -> text: one "name value" line per counter */
	/*
	 * The segment operations carry their own layouts (below); their
	 * whole body reaches the dispatcher as data, decoded in srv/.
	 */
	OP_IDENT = 8,      /* i32 pid, u32 uid, u32 gid -> the same, as the server will use them */
	OP_SHM_GET = 9,    /* i32 key, i32 flags, u64 size -> i32 shmid */
	OP_SHM_CTL = 10,   /* i32 shmid, i32 cmd, u32 uid, u32 gid, u32 mode -> i32 ret, 80-byte stat or info */
	OP_SHM_ATTACH = 11, /* i32 shmid, i32 flags, i32 lpid -> u64 segsz, u64 gen */
	OP_SHM_DETACH = 12, /* i32 shmid, i32 rdonly */
	OP_SHM_READ = 13,  /* i32 shmid, u32 flags, u64 off, u64 len, u64 known_gen -> u64 gen, u32 changed, u32 npages, data */
	OP_SHM_WRITE = 14, /* i32 shmid, u32 nruns, u64 base_gen, nruns x (u64 off, u64 len), data -> u64 gen, u32 others, u32 0 */
	OP_AUTH = 15,      /* u32 1, name -> 32-byte nonce; then u32 2, 32-byte mac -> u32 uid, u32 gid */
	OP_SHM_MAP = 16,   /* as SHM_ATTACH; the reply carries the segment's file (SCM_RIGHTS) */
	/* To the pager's own socket (a process of this host): */
	OP_PAGER_REGISTER = 17,   /* u32 kind, i32 id, u64 addr, u64 len, u32 rdonly, u32 0, + a userfaultfd (or none) */
	OP_PAGER_UNREGISTER = 18, /* u32 kind, i32 id, u64 addr */
	OP_HOST_MAP = 19,         /* i32 home shmid, u32 rdonly, u64 segsz, u32 n, n bytes of the home's address -> i32 copy id, + a memfd */
	/* Between pagers (coherence): host to home, then home to host: */
	OP_COH_JOIN = 20,    /* i32 shmid, u32 uid, u32 gid, u32 want (1 read, 2 write) -> u64 segsz */
	OP_COH_FETCH = 21,   /* i32 shmid, u32 page, u32 write -> u32 granted (1 R, 2 W), PAGE bytes */
	OP_COH_RELEASE = 22, /* i32 shmid, u32 page, u32 had_write, [PAGE bytes] (a host drops a page) */
	OP_COH_RECALL = 23,  /* home to host: i32 shmid, u32 page, u32 invalidate -> u32 had_write, [PAGE bytes] */
	OP_PEER_PORT = 24,   /* to a server: -> u32 the TCP port of its pager (--peer-listen), 0: none */
	OP_MAX_
};

struct proto_header {
	uint16_t magic;
	uint8_t version;
	uint8_t opcode;
	uint32_t id;
	int32_t status;
	uint32_t len;
};

/* A decoded request: the fixed arguments, then the data of a write. */
struct proto_request {
	uint8_t opcode;
	uint32_t id;
	int32_t arg[4]; /* pid, then pages or page, offset, size */
	const unsigned char *data;
	uint32_t data_len;
};

struct proto_hello {
	uint32_t frame_size;
	uint32_t max_data;
	uint64_t nframes;
	uint64_t frames_free;
};
#define PROTO_HELLO_LEN 24

/* Fixed lengths of the segment operations' bodies. */
#define PROTO_IDENT_LEN 12
#define PROTO_SHM_GET_LEN 16
#define PROTO_SHM_CTL_LEN 20
#define PROTO_SHM_CTL_REPLY_LEN 84
#define PROTO_SHM_ATTACH_LEN 12
#define PROTO_SHM_ATTACH_REPLY_LEN 16
#define PROTO_SHM_MAP_LEN PROTO_SHM_ATTACH_LEN
#define PROTO_SHM_MAP_REPLY_LEN PROTO_SHM_ATTACH_REPLY_LEN
#define PROTO_SHM_DETACH_LEN 8
#define PROTO_PAGER_REGISTER_LEN 32
#define PROTO_PAGER_UNREGISTER_LEN 16
#define PROTO_HOST_MAP_LEN 20 /* before the address */
#define PROTO_COH_JOIN_LEN 16
#define PROTO_COH_FETCH_LEN 12
#define PROTO_COH_RELEASE_LEN 12 /* before the page's bytes */
#define PROTO_COH_RECALL_LEN 12
#define PROTO_COH_PAGE 4096u /* coherence moves pages of this size, whatever the frame size */
#define PAGER_KIND_HOME 0u  /* a segment of this dshmd, mapped from its file */
#define PAGER_KIND_COPY 1u  /* this host's copy of another dshmd's segment */
#define PROTO_SHM_READ_LEN 32
#define PROTO_SHM_READ_REPLY_LEN 16 /* before the data */
#define PROTO_SHM_WRITE_LEN 16      /* before the runs */
#define PROTO_SHM_RUN_LEN 16
#define PROTO_SHM_WRITE_REPLY_LEN 16
#define PROTO_SHM_READ_IF_CHANGED 1u
/*
 * SHM_READ's write notices: only the 4 KiB pages of the range changed
 * after the known generation (offset a multiple of 4096); the reply's
 * third u32 is their count, then their numbers (u32 each), then their
 * bytes, 4096 each.
 */
#define PROTO_SHM_READ_CHANGED 2u
#define PROTO_SHM_NOTICE_PAGE 4096u
#define PROTO_AUTH_CHALLENGE 1u
#define PROTO_AUTH_PROVE 2u
#define PROTO_AUTH_NONCE_LEN 32
#define PROTO_AUTH_MAC_LEN 32
#define PROTO_AUTH_NAME_MAX 64

/* Whether opcode's whole body is data for its own decoder (the segment operations). */
static inline bool
proto_raw_body(uint8_t opcode)
{
	return opcode >= OP_IDENT && opcode < OP_MAX_;
}

void proto_put_header(unsigned char *out, const struct proto_header *h);
void proto_get_header(const unsigned char *in, struct proto_header *h);

/* The opcode's name in lower case ("proc_read"), or NULL when unknown. */
const char *proto_opcode_name(uint8_t opcode);

/* The exact body length of a request with this opcode, not counting write data; -1 if unknown. */
int proto_args_len(uint8_t opcode);

/*
 * Checks a request header.  Returns DSHM_SUCCESS, DSHM_BAD_REQUEST (bad
 * magic: the stream cannot be trusted), DSHM_VERSION_MISMATCH or
 * DSHM_TOO_LARGE (len above PROTO_MAX_BODY).  Opcode and exact lengths are
 * checked by proto_decode_request.
 */
int proto_check_header(const struct proto_header *h);

/* Decodes a request body whose header passed proto_check_header. */
int proto_decode_request(const struct proto_header *h, const unsigned char *body,
			 struct proto_request *r);

/*
 * Encodes a request (header, arguments; the data of a write follows
 * separately) into out, which holds PROTO_HEADER_LEN + 16 bytes.
 * Returns the bytes written.
 */
size_t proto_encode_request(unsigned char *out, const struct proto_request *r);

void proto_encode_hello(unsigned char *out, const struct proto_hello *hello);
void proto_decode_hello(const unsigned char *in, struct proto_hello *hello);

static inline void
proto_put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t
proto_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void
proto_put_u64(unsigned char *p, uint64_t v)
{
	proto_put_u32(p, (uint32_t)(v >> 32));
	proto_put_u32(p + 4, (uint32_t)v);
}

static inline uint64_t
proto_get_u64(const unsigned char *p)
{
	return (uint64_t)proto_get_u32(p) << 32 | proto_get_u32(p + 4);
}

#endif /* DSHM_IPC_PROTO_H */
