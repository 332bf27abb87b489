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
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "bytes.h"
#include "hmac.h"
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
 * takes them. What was written is moved out (compact) only when no frame is open, i.e. at a
 * frame's beginning: a frame being built is addressed by its offset in tx, which a move
 * would invalidate (a realloc does not). */
static int
tx_reserve(struct repl_conn *c, size_t n, bool compact)
{
	if (compact && c->tx_off > 0 && c->tx_off == c->tx_len)
		c->tx_off = c->tx_len = 0;
	if (c->tx_len + n <= c->tx_cap)
		return 0;
	if (compact && c->tx_off > 0) {
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

/* Starts a frame of type; returns its offset in tx (for frame_end), or -errno. On a sealed
 * link the counter's place follows the type (written by frame_end). */
long
rc_repl_frame_begin(struct repl_conn *c, uint8_t type, size_t body_hint)
{
	size_t hdr = c->seal_tx.ctx != NULL ? REPL_SEALED_HDR : REPL_HDR;
	long off;

	if (tx_reserve(c, hdr + body_hint + REPL_TAG_LEN, true) != 0)
		return -ENOMEM;
	off = (long)c->tx_len;
	c->tx[c->tx_len + 4] = type;
	c->tx_len += hdr;
	return off;
}

int
rc_repl_frame_put(struct repl_conn *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (tx_reserve(c, n, false) != 0)
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

	rc_put_be64(b, v);
	return rc_repl_frame_put(c, b, sizeof(b));
}

int
rc_repl_frame_put_name(struct repl_conn *c, const char *s)
{
	size_t n = strlen(s);
	int rc = rc_repl_frame_put8(c, (uint8_t)n);

	return rc == 0 ? rc_repl_frame_put(c, s, n) : rc;
}

static int frame_seal(struct repl_conn *c, size_t off);

/* Writes the frame's length (and seals it on a sealed link); tx may have moved, so off is
 * an offset. */
int
rc_repl_frame_end(struct repl_conn *c, long off)
{
	if (c->seal_tx.ctx != NULL)
		return frame_seal(c, (size_t)off);
	rc_put_be32(c->tx + off, (uint32_t)(c->tx_len - (size_t)off - 4));
	return 0;
}

/* A frame with a u64 body (ACK, DRAINED, TRUNCATE, RESET). */
int
rc_repl_frame_u64(struct repl_conn *c, uint8_t type, uint64_t v)
{
	long off = rc_repl_frame_begin(c, type, 8);

	if (off < 0 || rc_repl_frame_put64(c, v) != 0)
		return -ENOMEM;
	return rc_repl_frame_end(c, off);
}

/* ---- sealed frames: ChaCha20-Poly1305 per frame (repl.h) ----
 *
 * A sealed frame: u32 length, u8 type, u64 counter, the body encrypted, a 16-byte tag. The
 * AAD is the 13 bytes before the body (length, type, counter), the nonce 4 zero bytes then
 * the counter: each direction of each connection has its own key, and its counter starts
 * at 0 and only grows, so a nonce is never used twice under one key. */

static void
seal_nonce(uint8_t nonce[12], uint64_t seq)
{
	memset(nonce, 0, 4);
	rc_put_be64(nonce + 4, seq);
}

/* Encrypts the body of the frame at off in place, appends the tag, counts the frame. */
static int
frame_seal(struct repl_conn *c, size_t off)
{
	struct repl_seal *s = &c->seal_tx;
	size_t n = c->tx_len - off - REPL_SEALED_HDR;
	uint8_t nonce[12], *f;
	int l = 0, ok;

	if (s->seq == UINT64_MAX || n > RC_REPL_FRAME_MAX - 1 - REPL_SEQ_LEN - REPL_TAG_LEN ||
	    tx_reserve(c, REPL_TAG_LEN, false) != 0)
		return -ENOMEM;
	f = c->tx + off;
	rc_put_be32(f, (uint32_t)(1 + REPL_SEQ_LEN + n + REPL_TAG_LEN));
	rc_put_be64(f + REPL_HDR, s->seq);
	seal_nonce(nonce, s->seq);
	ok = EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) == 1 &&
	     EVP_EncryptUpdate(s->ctx, NULL, &l, f, REPL_SEALED_HDR) == 1 &&
	     (n == 0 || EVP_EncryptUpdate(s->ctx, f + REPL_SEALED_HDR, &l,
					  f + REPL_SEALED_HDR, (int)n) == 1) &&
	     EVP_EncryptFinal_ex(s->ctx, f + REPL_SEALED_HDR + n, &l) == 1 &&
	     EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_GET_TAG, REPL_TAG_LEN,
				 f + REPL_SEALED_HDR + n) == 1;
	if (!ok)
		return -EIO;
	c->tx_len += REPL_TAG_LEN;
	s->seq++;
	return 0;
}

int
rc_repl_seal_open(struct repl_conn *c, uint8_t *f, size_t flen)
{
	struct repl_seal *s = &c->seal_rx;
	size_t n;
	uint8_t nonce[12], *tag;
	uint64_t seq;
	int l = 0, ok;

	if (flen < REPL_SEALED_HDR + REPL_TAG_LEN)
		return -EPROTO;
	n = flen - REPL_SEALED_HDR - REPL_TAG_LEN;
	tag = f + REPL_SEALED_HDR + n;
	seq = rc_get_be64(f + REPL_HDR);
	seal_nonce(nonce, seq);
	ok = EVP_DecryptInit_ex(s->ctx, NULL, NULL, NULL, nonce) == 1 &&
	     EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_AEAD_SET_TAG, REPL_TAG_LEN, tag) == 1 &&
	     EVP_DecryptUpdate(s->ctx, NULL, &l, f, REPL_SEALED_HDR) == 1 &&
	     (n == 0 || EVP_DecryptUpdate(s->ctx, f + REPL_SEALED_HDR, &l, f + REPL_SEALED_HDR,
					  (int)n) == 1) &&
	     EVP_DecryptFinal_ex(s->ctx, tag, &l) == 1;
	if (!ok)
		return -EBADMSG; /* forged, altered, or sealed under another key */
	if (seq < s->seq)
		return -EALREADY; /* genuine but seen before: a replay, or reordered */
	if (seq > s->seq)
		return -EILSEQ; /* genuine but frames are missing */
	s->seq++;
	return 0;
}

static void
info_lp(uint8_t *info, size_t *n, const char *s)
{
	size_t l = strlen(s);

	info[(*n)++] = (uint8_t)l;
	memcpy(info + *n, s, l);
	*n += l;
}

/* HKDF-SHA256(key, salt nonce_w | nonce_r, info label | lp(writer) | lp(replica) |
 * lp(scope)) -> out[REPL_KEY_LEN]. */
static int
derive_key(const struct rc_repl_key *k, const struct repl_conn *c, const char *label,
	   const char *writer, const char *replica, const char *scope,
	   uint8_t out[REPL_KEY_LEN])
{
	uint8_t salt[2 * RC_REPL_NONCE_LEN], info[16 + 3 * (1 + RC_REPL_ID_MAX)];
	size_t n = strlen(label);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5];
	int rc = -EIO;

	memcpy(salt, c->nonce_w, RC_REPL_NONCE_LEN);
	memcpy(salt + RC_REPL_NONCE_LEN, c->nonce_r, RC_REPL_NONCE_LEN);
	memcpy(info, label, n);
	info_lp(info, &n, writer);
	info_lp(info, &n, replica);
	info_lp(info, &n, scope);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)k->key, k->len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt));
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	p[4] = OSSL_PARAM_construct_end();
	if (kctx != NULL && EVP_KDF_derive(kctx, out, REPL_KEY_LEN, p) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	OPENSSL_cleanse(salt, sizeof(salt));
	return rc;
}

static int
seal_init(struct repl_seal *s, const uint8_t key[REPL_KEY_LEN], bool enc)
{
	s->ctx = EVP_CIPHER_CTX_new();
	s->seq = 0;
	if (s->ctx == NULL)
		return -ENOMEM;
	if (EVP_CipherInit_ex(s->ctx, EVP_chacha20_poly1305(), NULL, key, NULL, enc ? 1 : 0) !=
	    1)
		return -EIO;
	return 0;
}

int
rc_repl_seal_start(struct repl_conn *c, const struct rc_repl_key *k, const char *writer,
		   const char *replica, const char *scope, bool is_writer)
{
	uint8_t w2r[REPL_KEY_LEN], r2w[REPL_KEY_LEN];
	int rc = derive_key(k, c, "rcrp2 stream w2r", writer, replica, scope, w2r);

	if (rc == 0)
		rc = derive_key(k, c, "rcrp2 stream r2w", writer, replica, scope, r2w);
	if (rc == 0)
		rc = seal_init(&c->seal_tx, is_writer ? w2r : r2w, true);
	if (rc == 0)
		rc = seal_init(&c->seal_rx, is_writer ? r2w : w2r, false);
	OPENSSL_cleanse(w2r, sizeof(w2r));
	OPENSSL_cleanse(r2w, sizeof(r2w));
	return rc;
}

void
rc_repl_seal_free(struct repl_conn *c)
{
	EVP_CIPHER_CTX_free(c->seal_tx.ctx);
	EVP_CIPHER_CTX_free(c->seal_rx.ctx);
	c->seal_tx.ctx = c->seal_rx.ctx = NULL;
}

/* ---- HMAC ---- */

_Static_assert(RC_REPL_MAC_LEN == RC_HMAC_SHA256_LEN, "the handshake MAC is a whole HMAC-SHA256");

/* mac = HMAC-SHA256(key, label | nonce_w | nonce_r | lp(writer) | lp(replica) |
 * lp(scope) | u64s[0..n)). 0, -EINVAL (n over RC_REPL_MAC_U64_MAX) or -EIO. */
int
rc_repl_mac(const struct rc_repl_key *k, const char *label, const struct repl_conn *c,
	 const char *writer, const char *replica, const char *scope, const uint64_t *u64s,
	 unsigned n, uint8_t mac[RC_REPL_MAC_LEN])
{
	const char *names[3] = { writer, replica, scope };
	uint8_t lens[3], u[RC_REPL_MAC_U64_MAX * 8];
	struct rc_hmac_part parts[10] = {
		{ label, strlen(label) },
		{ c->nonce_w, RC_REPL_NONCE_LEN },
		{ c->nonce_r, RC_REPL_NONCE_LEN },
	};

	if (n > RC_REPL_MAC_U64_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < 3; i++) {
		lens[i] = (uint8_t)strlen(names[i]);
		parts[3 + 2 * i] = (struct rc_hmac_part){ &lens[i], 1 };
		parts[4 + 2 * i] = (struct rc_hmac_part){ names[i], lens[i] };
	}
	for (unsigned i = 0; i < n; i++)
		rc_put_be64(u + 8 * i, u64s[i]);
	parts[9] = (struct rc_hmac_part){ u, 8 * (size_t)n };
	return rc_hmac_sha256(k->key, k->len, parts, 10, mac);
}

int
rc_repl_key_pick(struct rc_repl *r, unsigned id, struct rc_repl_key *out)
{
	int rc = -ENOKEY;

	pthread_mutex_lock(&r->key_lock);
	for (unsigned i = 0; i < r->n_keys; i++)
		if (id == 0 ? i == 0 : r->keys[i].id == id) {
			*out = r->keys[i];
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&r->key_lock);
	return rc;
}

int
rc_repl_set_keys(struct rc_repl *r, const struct rc_repl_key *keys, unsigned n)
{
	if (r == NULL || keys == NULL || n == 0 || n > RC_REPL_KEYS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (keys[i].id == 0 || keys[i].len < RC_REPL_KEY_MIN ||
		    keys[i].len > RC_REPL_KEY_MAX)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (keys[j].id == keys[i].id)
				return -EINVAL;
	}
	pthread_mutex_lock(&r->key_lock);
	OPENSSL_cleanse(r->keys, sizeof(r->keys));
	memcpy(r->keys, keys, n * sizeof(*keys));
	r->n_keys = n;
	pthread_mutex_unlock(&r->key_lock);
	return 0;
}
