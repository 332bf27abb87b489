/* SPDX-License-Identifier: MIT */
/*
 * The replication link's wire (repl.h, "Frames"): building frames in a connection's
 * transmit buffer, decoding names, and the HMAC-SHA256 of the handshake. The bounded
 * reader of a frame's body is inline in repl_impl.h.
 *
 * Threads: the frame functions are for the thread that owns the connection (rc-repl);
 * rc_repl_mac is safe from any thread.
 */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "repl_impl.h"

/* ---- encoding and parsing ---- */

/* A one-byte length then 1..RC_REPL_ID_MAX bytes of a name, copied NUL-terminated. */
void
rc_repl_rd_name(struct rd *b, char out[RC_REPL_ID_MAX + 1])
{
	uint8_t n = rc_repl_rd8(b);
	const uint8_t *p = rc_repl_rd_take(b, n);

	out[0] = '\0';
	if (p == NULL || n == 0 || n > RC_REPL_ID_MAX || memchr(p, '\0', n) != NULL) {
		b->bad = true;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

/* The connection's transmit buffer: frames are appended, then written as the socket
 * takes them. */
static int
tx_reserve(struct repl_conn *c, size_t n)
{
	if (c->tx_off > 0 && c->tx_off == c->tx_len)
		c->tx_off = c->tx_len = 0;
	if (c->tx_len + n <= c->tx_cap)
		return 0;
	if (c->tx_off > 0) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
		if (c->tx_len + n <= c->tx_cap)
			return 0;
	}
	size_t cap = RTE_MAX(c->tx_cap * 2, c->tx_len + n + 4096);
	uint8_t *p = realloc(c->tx, cap);

	if (p == NULL)
		return -ENOMEM;
	c->tx = p;
	c->tx_cap = cap;
	return 0;
}

/* Starts a frame of type; returns its offset in tx (for frame_end), or -errno. */
long
rc_repl_frame_begin(struct repl_conn *c, uint8_t type, size_t body_hint)
{
	long off;

	if (tx_reserve(c, REPL_HDR + body_hint) != 0)
		return -ENOMEM;
	off = (long)c->tx_len;
	c->tx[c->tx_len + 4] = type;
	c->tx_len += REPL_HDR;
	return off;
}

int
rc_repl_frame_put(struct repl_conn *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (tx_reserve(c, n) != 0)
		return -ENOMEM;
	memcpy(c->tx + c->tx_len, p, n);
	c->tx_len += n;
	return 0;
}

int
rc_repl_frame_put8(struct repl_conn *c, uint8_t v)
{
	return rc_repl_frame_put(c, &v, 1);
}

int
rc_repl_frame_put64(struct repl_conn *c, uint64_t v)
{
	uint8_t b[8];

	rc_wal_put_be64(b, v);
	return rc_repl_frame_put(c, b, sizeof(b));
}

int
rc_repl_frame_put_name(struct repl_conn *c, const char *s)
{
	size_t n = strlen(s);
	int rc = rc_repl_frame_put8(c, (uint8_t)n);

	return rc == 0 ? rc_repl_frame_put(c, s, n) : rc;
}

/* Writes the frame's length; tx may have moved, so off is an offset. */
void
rc_repl_frame_end(struct repl_conn *c, long off)
{
	rc_wal_put_be32(c->tx + off, (uint32_t)(c->tx_len - (size_t)off - 4));
}

/* A frame with a u64 body (ACK, DRAINED, TRUNCATE, RESET). */
int
rc_repl_frame_u64(struct repl_conn *c, uint8_t type, uint64_t v)
{
	long off = rc_repl_frame_begin(c, type, 8);

	if (off < 0 || rc_repl_frame_put64(c, v) != 0)
		return -ENOMEM;
	rc_repl_frame_end(c, off);
	return 0;
}

/* ---- HMAC ---- */

static EVP_MAC *repl_hmac;
static pthread_once_t repl_hmac_once = PTHREAD_ONCE_INIT;

static void
repl_hmac_fetch(void)
{
	repl_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static void
mac_lp(EVP_MAC_CTX *ctx, const char *s, int *ok)
{
	uint8_t n = (uint8_t)strlen(s);

	*ok = *ok && EVP_MAC_update(ctx, &n, 1) && EVP_MAC_update(ctx, (const uint8_t *)s, n);
}

/* mac = HMAC-SHA256(key, label | nonce_w | nonce_r | lp(writer) | lp(replica) |
 * lp(scope) | u64s[0..n)). 0 or -EIO. */
int
rc_repl_mac(const struct rc_repl_key *k, const char *label, const struct repl_conn *c,
	 const char *writer, const char *replica, const char *scope, const uint64_t *u64s,
	 unsigned n, uint8_t mac[RC_REPL_MAC_LEN])
{
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
								 "SHA256", 0),
				OSSL_PARAM_construct_end() };
	size_t mac_len = 0;
	EVP_MAC_CTX *ctx;
	int ok;

	pthread_once(&repl_hmac_once, repl_hmac_fetch);
	if (repl_hmac == NULL || (ctx = EVP_MAC_CTX_new(repl_hmac)) == NULL)
		return -EIO;
	ok = EVP_MAC_init(ctx, k->key, k->len, params) &&
	     EVP_MAC_update(ctx, (const uint8_t *)label, strlen(label)) &&
	     EVP_MAC_update(ctx, c->nonce_w, RC_REPL_NONCE_LEN) &&
	     EVP_MAC_update(ctx, c->nonce_r, RC_REPL_NONCE_LEN);
	mac_lp(ctx, writer, &ok);
	mac_lp(ctx, replica, &ok);
	mac_lp(ctx, scope, &ok);
	for (unsigned i = 0; i < n && ok; i++) {
		uint8_t b[8];

		rc_wal_put_be64(b, u64s[i]);
		ok = EVP_MAC_update(ctx, b, sizeof(b));
	}
	ok = ok && EVP_MAC_final(ctx, mac, &mac_len, RC_REPL_MAC_LEN) &&
	     mac_len == RC_REPL_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}
