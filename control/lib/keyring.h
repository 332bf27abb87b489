/* SPDX-License-Identifier: MIT */
/*
 * Keys per purpose. A node holds one key ring per purpose: login tokens, the HA link
 * (heartbeats and the WAL stream's handshake) and cluster documents (the management
 * endpoint); the relay between nodes has its own secrets (relay.*). No two purposes ever
 * use the same bytes, so a holder of one key (a token service holds the tokens key) can
 * forge nothing of another purpose.
 *
 * A ring lists 1..RC_KEYRING_MAX keys, each with an id (1..255) that names it forever:
 * the first signs, every listed key is accepted. A rotation is three changes of the ring,
 * each applied on every node before the next: add the new key after the signing one; put it
 * first (it signs); drop the old one.
 *
 * A configuration without a keys section derives each purpose's key from auth.secret_file:
 * HKDF-SHA256 (RFC 5869, no salt, info "roomcast tokens" / "roomcast ha" / "roomcast
 * cluster"), 32 bytes, id 1 (the HA key: ha.key_id). The keys then differ per purpose, but
 * whoever holds the secret holds them all: a keys section is what separates the holders.
 *
 * Threads: the functions are reentrant; a ring is plain data, copied by whoever uses it
 * across threads (the users say how they publish a new one).
 */
#ifndef RC_KEYRING_H
#define RC_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_KEY_MIN 32
#define RC_KEY_MAX 128
#define RC_KEYRING_MAX 4
#define RC_KEY_DERIVED_LEN 32
#define RC_KEY_FPR_HEX 16 /* hex digits of a fingerprint */

enum rc_key_purpose {
	RC_KEY_TOKENS = 0,
	RC_KEY_HA,
	RC_KEY_CLUSTER,
	RC_KEY_PURPOSE_MAX,
};

struct rc_key {
	uint8_t id;   /* 1..255 */
	unsigned len; /* RC_KEY_MIN..RC_KEY_MAX */
	uint8_t key[RC_KEY_MAX];
};

struct rc_keyring {
	unsigned n;                        /* 0: none */
	bool derived;                      /* from auth.secret_file, not a file of its own */
	struct rc_key k[RC_KEYRING_MAX];   /* k[0] signs; all are accepted */
};

/* "tokens", "ha", "cluster"; NULL if out of range. */
const char *rc_key_purpose_name(enum rc_key_purpose p);

/* out = HKDF-SHA256(secret, info "roomcast " NAME), RC_KEY_DERIVED_LEN bytes, with id.
 * 0, -EINVAL (no secret, bad purpose or id 0) or -EIO (crypto failure). */
int rc_key_derive(const uint8_t *secret, size_t len, enum rc_key_purpose p, uint8_t id,
		  struct rc_key *out);

/* The key with id in r, or NULL. */
const struct rc_key *rc_keyring_find(const struct rc_keyring *r, unsigned id);

/* The signing key (r->k[0]), or NULL when r is empty. */
const struct rc_key *rc_keyring_signer(const struct rc_keyring *r);

/* Same id and same bytes (constant time on the bytes). */
bool rc_key_equal(const struct rc_key *a, const struct rc_key *b);

/* Two rings share bytes (any key of a equals the bytes of any key of b). */
bool rc_keyring_overlap(const struct rc_keyring *a, const struct rc_keyring *b);

/* A fingerprint that names the key without revealing it: the first 8 bytes of
 * SHA-256("roomcast key fingerprint" NUL key), in hex. */
void rc_key_fingerprint(const struct rc_key *k, char out[RC_KEY_FPR_HEX + 1]);

/* Wipe a ring (OPENSSL_cleanse). */
void rc_keyring_wipe(struct rc_keyring *r);

#endif /* RC_KEYRING_H */
