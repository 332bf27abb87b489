/* SPDX-License-Identifier: MIT */
/*
 * The relay envelope: the wrapper of every node-to-node datagram (PROTOCOL.md 13.1):
 *
 *   magic u16 0x524E ("RN") | version u8 1 | key_id u8 | counter u64 | sender str8
 *   | bundle (protocol messages) | tag: the first 16 bytes of HMAC-SHA256(pair key, every
 *   byte before the tag)
 *
 * and the pieces around it: the pair key of two nodes, the tag (constant-time compare), and
 * a 64-wide replay window over counters.
 *
 * Threads: reentrant. A struct rc_hmac_keyed (hmac.h) is used by one thread at a time; the
 * other functions allocate nothing of ours (the one-shot tag: OpenSSL allocates its context).
 */
#ifndef RC_RELAY_WIRE_H
#define RC_RELAY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hmac.h"

#define RC_RELAY_MAGIC 0x524E /* "RN" */
#define RC_RELAY_VERSION 1
#define RC_RELAY_FIXED_LEN 12 /* magic, version, key id, counter */
#define RC_RELAY_TAG_LEN 16
#define RC_RELAY_KEY_LEN 32
#define RC_RELAY_MAX_SENDER 63 /* bytes of a node id */
#define RC_RELAY_WINDOW 64

/* A parsed envelope: views into the datagram. */
struct rc_relay_env {
	uint8_t key_id;
	uint64_t counter;
	const char *sender; /* not NUL-terminated */
	uint8_t sender_len;
	const uint8_t *bundle;
	uint16_t bundle_len;
	const uint8_t *tag; /* RC_RELAY_TAG_LEN bytes, at the end */
};

/* Replay window: the highest counter accepted and the 63 below it. Zeroed: empty. */
struct rc_relay_window {
	uint64_t top;  /* highest counter accepted (0: none yet) */
	uint64_t bits; /* bit i set: counter top - i accepted */
};

/*
 * key = HMAC-SHA256(secret, "roomcast-relay-v1" NUL min(a, b) NUL max(a, b)) (byte order of
 * the NUL-terminated ids): both nodes of a pair derive the same key.
 */
void rc_relay_pair_key(const void *secret, size_t len, const char *a, const char *b,
		       uint8_t key[RC_RELAY_KEY_LEN]);

/* Length of the header for a sender id of sender_len bytes. */
static inline size_t
rc_relay_hdr_len(size_t sender_len)
{
	return RC_RELAY_FIXED_LEN + 1 + sender_len;
}

/*
 * Write the envelope header at buf[0..cap). Returns its length, or -ENOSPC, -EMSGSIZE (sender
 * over RC_RELAY_MAX_SENDER bytes or empty).
 */
ssize_t rc_relay_put_hdr(uint8_t *buf, size_t cap, uint8_t key_id, uint64_t counter,
			 const char *sender, size_t sender_len);

/* Overwrite the counter of the header at buf (written by rc_relay_put_hdr). */
void rc_relay_set_counter(uint8_t *buf, uint64_t counter);

/*
 * Parse the envelope buf[0..len) (tag included). 0, or -EPROTO (magic or version), -EBADMSG
 * (too short for its header and a tag, or an empty sender). The tag is not checked here.
 */
int rc_relay_get(const uint8_t *buf, size_t len, struct rc_relay_env *e);

/* tag = the envelope's tag over buf[0..len) (every byte before the tag). 0 or -EIO. */
int rc_relay_tag(const uint8_t key[RC_RELAY_KEY_LEN], const uint8_t *buf, size_t len,
		 uint8_t tag[RC_RELAY_TAG_LEN]);

/* The same with a context keyed with the pair key (no allocation per call). */
int rc_relay_tag_keyed(struct rc_hmac_keyed *k, const uint8_t *buf, size_t len,
		       uint8_t tag[RC_RELAY_TAG_LEN]);

/* Whether two tags are equal, in time independent of where they differ. */
bool rc_relay_tag_equal(const uint8_t a[RC_RELAY_TAG_LEN], const uint8_t b[RC_RELAY_TAG_LEN]);

/*
 * Whether counter c is new for window w: above top, or within the 64 below it and not seen.
 * Counter 0 is never new. Check first, verify the tag, then accept.
 */
bool rc_relay_window_fresh(const struct rc_relay_window *w, uint64_t c);

/* Record c (fresh) as seen. */
void rc_relay_window_accept(struct rc_relay_window *w, uint64_t c);

#endif /* RC_RELAY_WIRE_H */
