/* SPDX-License-Identifier: MIT */
/*
 * roomcast wire protocol v1: constants, decoded views and the codec.
 *
 * The byte-level reference is dataplane/wire/PROTOCOL.md; this header and that file must agree.
 * The codec is pure C (no DPDK, no allocation): the dataplane, the client library and the
 * tests all link it.
 *
 * Concurrency: every function is reentrant; decoded strings point into the caller's buffer
 * and live as long as it does.
 */
#ifndef RC_PROTO_H
#define RC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RC_MAGIC 0x5243 /* "RC" */
#define RC_VERSION 1
#define RC_HDR_LEN 20
#define RC_DEFAULT_UDP_PORT 6420

#define RC_MAX_USER 64     /* bytes of UTF-8 */
#define RC_MAX_ROOM 200    /* bytes of UTF-8 */
#define RC_MAX_BODY 1200   /* bytes of UTF-8 */
#define RC_MAX_TOKEN 128   /* bytes of ASCII */
#define RC_MAX_ERRTEXT 100 /* bytes of UTF-8 */
#define RC_MAX_DGRAM 1472  /* UDP payload for a 1500-byte MTU */
#define RC_MAX_FETCH 1000  /* hard cap of FETCH.max; the node's setting may be lower */

/* Header flags. */
#define RC_F_MORE 0x01 /* MEMBER_LIST, ROOM_LIST: another list for the same request follows */

enum rc_msg_type {
	RC_T_INVALID = 0,
	RC_T_LOGIN = 1,
	RC_T_LOGIN_OK = 2,
	RC_T_JOIN = 3,
	RC_T_JOINED = 4,
	RC_T_LEAVE = 5,
	RC_T_LEFT = 6,
	RC_T_POST = 7,
	RC_T_ACK = 8,
	RC_T_DELIVER = 9,
	RC_T_FETCH = 10,
	RC_T_FETCH_END = 11,
	RC_T_MEMBERS = 12,
	RC_T_MEMBER_LIST = 13,
	RC_T_PING = 14,
	RC_T_PONG = 15,
	RC_T_LOGOUT = 16,
	RC_T_BYE = 17,
	RC_T_ERROR = 18,
	RC_T_RESUME = 19, /* the session now runs on the node named in it (HA takeover) */
	RC_T_REDIRECT = 20, /* answer to LOGIN: log in at the user's home node instead */
	/* Node-to-node only, inside a relay envelope; refused in a client's datagram. */
	RC_T_RJOIN = 21,
	RC_T_RJOINED = 22,
	RC_T_RPOST = 23,
	RC_T_RFETCH = 24,
	RC_T_RLEAVE = 25,
	RC_T_RMEMBERS = 26,
	/* The room directory: rooms of the cluster by canonical-name prefix. */
	RC_T_ROOMS = 27,
	RC_T_ROOM_LIST = 28,
	/* Under a LOGIN flood: the node's proof-of-address challenge and the LOGIN that answers
	 * it (PROTOCOL.md 7.1). */
	RC_T_COOKIE = 29,
	RC_T_LOGIN_COOKIE = 30,
	RC_T_MAX
};

/* RESUME.reason */
enum rc_resume_reason {
	RC_RESUME_NONE = 0, /* never valid on the wire */
	RC_RESUME_FAILOVER = 1,
	RC_RESUME_FALLBACK = 2,
	RC_RESUME_OTHER = 3,
	RC_RESUME_MAX
};

enum rc_err_code {
	RC_E_NONE = 0,
	RC_E_UNKNOWN_ROOM = 1,
	RC_E_NOT_MEMBER = 2,
	RC_E_TOO_LARGE = 3,
	RC_E_RATE_LIMITED = 4,
	RC_E_NOT_AUTH = 5,
	RC_E_BAD_REQUEST = 6,
	RC_E_STORAGE_FULL = 7,
	RC_E_NOT_OWNER = 8,
	RC_E_BUSY = 9,          /* the node is overloaded; retry later */
	RC_E_LIMIT_REACHED = 10, /* max rooms, members or sessions reached */
	RC_E_ARCHIVED = 11,      /* POST to an archived room: read-only */
	RC_E_MAX
};

/* A string inside a datagram: not NUL-terminated. */
struct rc_str {
	const char *p;
	uint16_t len;
};

/* One ROOM_LIST entry (encode side). */
struct rc_room_entry {
	struct rc_str room; /* canonical name */
	uint64_t last_seq;
};

struct rc_hdr {
	uint8_t version;
	uint8_t type;
	uint8_t flags;
	uint16_t body_len;
	uint64_t session;
	uint32_t request_id;
};

/*
 * A message, decoded (views into the datagram) or to be encoded.
 * Field order in each struct is the order on the wire.
 */
struct rc_msg {
	struct rc_hdr hdr;
	union {
		struct {
			struct rc_str user, token;
			uint32_t cookie_slot; /* LOGIN_COOKIE only: the COOKIE's fields */
			uint64_t cookie_mac;
		} login; /* LOGIN, LOGIN_COOKIE */
		struct {
			uint32_t slot; /* opaque to the client: sent back as it came */
			uint64_t mac;
		} cookie;
		struct {
			uint64_t session;
			uint32_t idle_timeout_s;
		} login_ok;
		struct {
			struct rc_str room;
			uint64_t since_seq; /* 0: the latest N messages */
		} join;
		struct {
			struct rc_str room;
			uint32_t room_id;
			uint64_t last_seq;
			uint32_t members;
		} joined;
		struct {
			struct rc_str room;
		} leave, members; /* LEAVE, MEMBERS */
		struct {
			uint32_t room_id;
		} left;
		struct {
			struct rc_str room;
			uint64_t cmid;
			struct rc_str body;
		} post;
		struct {
			uint32_t room_id;
			uint64_t cmid;
			uint64_t seq;
		} ack;
		struct {
			uint32_t room_id;
			uint64_t seq;
			uint64_t ts_ms;
			uint64_t cmid;
			struct rc_str sender;
			struct rc_str body;
		} deliver;
		struct {
			struct rc_str room;
			uint64_t from_seq;
			uint16_t max;
		} fetch;
		struct {
			uint32_t room_id;
			uint64_t from_seq;
			uint64_t next_seq; /* first seq not sent by this FETCH */
			uint64_t last_seq; /* the room's last stored seq */
			uint16_t count;
		} fetch_end;
		struct {
			uint32_t room_id;
			uint16_t count;
			/* decode: raw points at count str8 entries; use rc_member_list_next() */
			const uint8_t *raw;
			uint16_t raw_len;
			/* encode: count entries */
			const struct rc_str *users;
		} member_list;
		struct {
			uint64_t nonce;
		} ping, pong;
		struct {
			uint16_t code;
			uint8_t ref_type; /* type of the request that failed, 0 if none */
			struct rc_str text;
		} error;
		struct {
			struct rc_str node; /* id of the node now serving the session (user kind) */
			uint8_t reason;	    /* enum rc_resume_reason, 1..RC_RESUME_MAX-1 */
		} resume;
		struct {
			struct rc_str node; /* the home node's id (user kind) */
			uint32_t ip;	    /* its service address, host order (192.0.2.1 = 0xC0000201) */
			uint16_t udp_port;
		} redirect;
		struct {
			uint32_t alias;	    /* the home node's id of its copy of the room */
			uint64_t since_seq;
			struct rc_str user;
			struct rc_str room; /* canonical NAME@SERVICE */
		} rjoin;
		struct {
			uint32_t alias;
			uint32_t room_id; /* the host's id */
			uint64_t last_seq;
		} rjoined;
		struct {
			uint32_t room_id; /* the host's */
			uint32_t alias;
			uint64_t cmid;
			struct rc_str user;
			struct rc_str body;
		} rpost;
		struct {
			uint32_t room_id;
			uint32_t alias;
			uint64_t from_seq;
			uint16_t max;
		} rfetch;
		struct {
			uint32_t room_id;
			uint32_t alias;
		} rref, rleave, rmembers; /* RLEAVE, RMEMBERS */
		struct {
			struct rc_str prefix; /* 0..RC_MAX_ROOM bytes; empty: every room */
		} rooms;
		struct {
			uint16_t count;
			/* decode: raw points at count (str8 room, u64 last_seq) entries; use
			 * rc_room_list_next() */
			const uint8_t *raw;
			uint16_t raw_len;
			/* encode: count entries */
			const struct rc_room_entry *rooms;
		} room_list;
	} u;
};

/*
 * Decode the message at buf[0..len). On success returns 0 and sets *consumed to the
 * message's full length (header + body). Errors (negative):
 *   -EPROTO   bad magic or unsupported version (*consumed = len: stop the bundle)
 *   -EBADMSG  truncated header/body or malformed body (*consumed = header+body_len when
 *             body_len fits in len, so the rest of the bundle can still be read; else len)
 *   -ENOMSG   unknown message type (*consumed as for -EBADMSG)
 *   -EMSGSIZE a field exceeds its limit (*consumed = header + body_len)
 *   -EILSEQ   a string is not valid UTF-8 (*consumed = header + body_len)
 * On error m->hdr is filled when the header itself was readable.
 */
int rc_decode(const uint8_t *buf, size_t len, struct rc_msg *m, size_t *consumed);

/*
 * Encode m at buf[0..cap), header included (m->hdr.body_len is computed; magic and
 * version are set). Returns the bytes written, -ENOSPC if it does not fit, -EMSGSIZE if a
 * field exceeds its limit, -EINVAL for an unknown type.
 */
ssize_t rc_encode(uint8_t *buf, size_t cap, const struct rc_msg *m);

/* Exact encoded length of m (header included), or negative as rc_encode. */
ssize_t rc_encoded_len(const struct rc_msg *m);

/*
 * Point the views of m, decoded from the bytes at `from`, at the same bytes copied to `to`
 * (a message handed to another thread with a copy of its bytes, decoded once). Integers
 * are values and stay; a type without a layout is left as it is.
 */
void rc_msg_rebase(struct rc_msg *m, const uint8_t *from, const uint8_t *to);

/* Iterate MEMBER_LIST users: *off starts at 0; returns false at the end. */
bool rc_member_list_next(const struct rc_msg *m, size_t *off, struct rc_str *user);

/*
 * Iterate ROOM_LIST entries: *off starts at 0; returns false at the end. last_seq may be
 * NULL.
 */
bool rc_room_list_next(const struct rc_msg *m, size_t *off, struct rc_str *room,
		       uint64_t *last_seq);

/* True if s[0..len) is well-formed UTF-8 with no C0 control characters other than
 * TAB/LF/CR (allow_newlines) or none at all (!allow_newlines), and no NUL. */
bool rc_utf8_valid(const char *s, size_t len, bool allow_newlines);
/* The same verdict, read one byte at a time (utf8.c): the reference rc_utf8_valid, which
 * skips printable ASCII a word at a time, is tested and measured against. */
bool rc_utf8_valid_bytes(const char *s, size_t len, bool allow_newlines);

const char *rc_msg_type_name(unsigned type); /* "LOGIN", ...; "?" when out of range */
const char *rc_err_name(unsigned code);      /* "unknown room", ...; "?" when out of range */
const char *rc_resume_reason_name(unsigned reason); /* "failover", ...; "?" when out of range */

/* Map a negative rc_decode() result to the ERROR code to answer with. */
enum rc_err_code rc_decode_err_code(int rc);

#endif /* RC_PROTO_H */
