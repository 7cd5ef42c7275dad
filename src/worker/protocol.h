/* The worker protocol (docs/protocol.md): what travels in the payload of
 * each chan message between an owner and a worker, as MessagePack arrays.
 * Encoding and decoding only; nothing here does I/O. */
#ifndef KIN_WORKER_PROTOCOL_H
#define KIN_WORKER_PROTOCOL_H

#include "../core/core.h"

#define KIN__PROTOCOL_VERSION 1
/* Set in a worker's environment by its owner, removed by kin_main. */
#define KIN__ENV_WORKER "KIN_WORKER"          /* the protocol version, e.g. "1" */
#define KIN__ENV_THREADS "KIN_WORKER_THREADS" /* calls served at once, e.g. "4" */
#define KIN__ENV_ZYGOTE "KIN_WORKER_ZYGOTE"   /* set: be a zygote (kin's own workers only) */
/* The worker's chan. */
#define KIN__WORKER_FD 3
/* A worker replies with this error to a call of a name it does not serve. */
#define KIN__NO_HANDLER (-38) /* -ENOSYS on Linux */
/* Limits a decoder enforces. */
#define KIN__MAX_NAME 255      /* bytes in a handler name */
#define KIN__MAX_HANDLERS 1024 /* names in a hello */

typedef enum kin__ptype {
	KIN__P_HELLO = 0,  /* worker -> owner, first message: [0, version, pid, [names]] */
	KIN__P_CALL = 1,   /* owner -> worker: [1, id, name, args(bin)] */
	KIN__P_CAST = 2,   /* owner -> worker: [2, name, args(bin)] */
	KIN__P_REPLY = 3,  /* worker -> owner: [3, id, error, data(bin)] */
	KIN__P_DETACH = 4, /* owner -> worker: [4, id], acked by [3, id, 0, b""] */
} kin__ptype;

typedef struct kin__pmsg {
	kin__ptype type;
	uint64_t version; /* HELLO */
	int64_t pid;      /* HELLO */
	char **names;     /* HELLO: NUL-terminated copies, in one block that a
			   * single free() releases (kin__pmsg_free) */
	size_t nnames;
	uint64_t id;       /* CALL, REPLY, DETACH */
	const char *name;  /* CALL, CAST: points into the decoded data, not */
	size_t name_len;   /*   NUL-terminated */
	int64_t error;     /* REPLY: 0, or the handler's code */
	const void *body;  /* CALL, CAST: the args; REPLY: the data. Points */
	size_t body_len;   /*   into the decoded data. */
} kin__pmsg;

/* Encoders append to out and return 0 or -ENOMEM (-EINVAL for an id of 0,
 * a name that is empty or longer than KIN__MAX_NAME, or too many names). */
int kin__proto_hello(kin_buf *out, int64_t pid, const char *const *names, size_t n);
/* Everything up to and including the bin header of a body of body_len
 * bytes; the body itself goes after it as a separate iovec, uncopied. */
int kin__proto_call_prefix(kin_buf *out, uint64_t id, const char *name, size_t body_len);
int kin__proto_cast_prefix(kin_buf *out, const char *name, size_t body_len);
int kin__proto_reply_prefix(kin_buf *out, uint64_t id, int64_t error, size_t body_len);
/* DETACH [4, id]: the worker answers with REPLY [3, id, 0, <empty bin>]
 * once it no longer dies with its owner, so the owner knows when it may
 * call the worker detached. The id shares one space with CALL ids: it must
 * not be one a call still waits on. */
int kin__proto_detach(kin_buf *out, uint64_t id);

/* Decodes one whole message into *msg: 0, -ENOMEM, or -EPROTO for anything
 * malformed, of an unknown type, with bytes left over, or beyond the limits
 * above. A HELLO whose version is not KIN__PROTOCOL_VERSION decodes with
 * only .type and .version set (its other fields may follow another
 * layout), so the owner can name the mismatch. On failure *msg holds
 * nothing that needs freeing. */
int kin__proto_decode(const void *data, size_t len, kin__pmsg *msg);
void kin__pmsg_free(kin__pmsg *msg);

#endif
