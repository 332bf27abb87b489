/* SPDX-License-Identifier: MIT */
/* The relay envelope, pair keys, tags and replay windows (see relay_wire.h). */
#include "relay_wire.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bytes.h"

static const char pair_label[] = "roomcast-relay-v1";

void
rc_relay_pair_key(const void *secret, size_t len, const char *a, const char *b,
		  uint8_t key[RC_RELAY_KEY_LEN])
{
	const char *lo = strcmp(a, b) <= 0 ? a : b, *hi = lo == a ? b : a;
	/* each piece with its NUL: the label, the lower id, the higher id */
	struct rc_hmac_part parts[] = {
		{ pair_label, sizeof(pair_label) },
		{ lo, strlen(lo) + 1 },
		{ hi, strlen(hi) },
	};

	if (rc_hmac_sha256(secret, len, parts, 3, key) != 0)
		memset(key, 0, RC_RELAY_KEY_LEN); /* verifies nothing a peer seals */
}

ssize_t
rc_relay_put_hdr(uint8_t *buf, size_t cap, uint8_t key_id, uint64_t counter,
		 const char *sender, size_t sender_len)
{
	size_t n = rc_relay_hdr_len(sender_len);

	if (sender_len == 0 || sender_len > RC_RELAY_MAX_SENDER)
		return -EMSGSIZE;
	if (n > cap)
		return -ENOSPC;
	rc_put_be16(buf, RC_RELAY_MAGIC);
	buf[2] = RC_RELAY_VERSION;
	buf[3] = key_id;
	rc_put_be64(buf + 4, counter);
	buf[RC_RELAY_FIXED_LEN] = (uint8_t)sender_len;
	memcpy(buf + RC_RELAY_FIXED_LEN + 1, sender, sender_len);
	return (ssize_t)n;
}

void
rc_relay_set_counter(uint8_t *buf, uint64_t counter)
{
	rc_put_be64(buf + 4, counter);
}

int
rc_relay_get(const uint8_t *buf, size_t len, struct rc_relay_env *e)
{
	size_t hdr;

	if (len < 2 || rc_get_be16(buf) != RC_RELAY_MAGIC)
		return -EPROTO;
	if (len < RC_RELAY_FIXED_LEN + 1 + RC_RELAY_TAG_LEN)
		return -EBADMSG;
	if (buf[2] != RC_RELAY_VERSION)
		return -EPROTO;
	e->key_id = buf[3];
	e->counter = rc_get_be64(buf + 4);
	e->sender_len = buf[RC_RELAY_FIXED_LEN];
	hdr = rc_relay_hdr_len(e->sender_len);
	if (e->sender_len == 0 || hdr + RC_RELAY_TAG_LEN > len)
		return -EBADMSG;
	e->sender = (const char *)buf + RC_RELAY_FIXED_LEN + 1;
	e->bundle = buf + hdr;
	e->bundle_len = (uint16_t)(len - hdr - RC_RELAY_TAG_LEN);
	e->tag = buf + len - RC_RELAY_TAG_LEN;
	return 0;
}

int
rc_relay_tag(const uint8_t key[RC_RELAY_KEY_LEN], const uint8_t *buf, size_t len,
	     uint8_t tag[RC_RELAY_TAG_LEN])
{
	struct rc_hmac_part part = { buf, len };
	uint8_t mac[RC_HMAC_SHA256_LEN];
	int rc = rc_hmac_sha256(key, RC_RELAY_KEY_LEN, &part, 1, mac);

	memcpy(tag, mac, RC_RELAY_TAG_LEN);
	return rc;
}

int
rc_relay_tag_keyed(struct rc_hmac_keyed *k, const uint8_t *buf, size_t len,
		   uint8_t tag[RC_RELAY_TAG_LEN])
{
	struct rc_hmac_part part = { buf, len };
	uint8_t mac[RC_HMAC_SHA256_LEN];
	int rc = rc_hmac_keyed_sha256(k, &part, 1, mac);

	memcpy(tag, mac, RC_RELAY_TAG_LEN);
	return rc;
}

bool
rc_relay_tag_equal(const uint8_t a[RC_RELAY_TAG_LEN], const uint8_t b[RC_RELAY_TAG_LEN])
{
	return CRYPTO_memcmp(a, b, RC_RELAY_TAG_LEN) == 0;
}

bool
rc_relay_window_fresh(const struct rc_relay_window *w, uint64_t c)
{
	if (c == 0)
		return false;
	if (c > w->top)
		return true;
	if (w->top - c >= RC_RELAY_WINDOW)
		return false; /* too old to tell: refused */
	return (w->bits & (1ull << (w->top - c))) == 0;
}

void
rc_relay_window_accept(struct rc_relay_window *w, uint64_t c)
{
	uint64_t shift;

	if (c <= w->top) {
		w->bits |= 1ull << (w->top - c);
		return;
	}
	shift = c - w->top;
	w->bits = shift >= RC_RELAY_WINDOW ? 0 : w->bits << shift;
	w->bits |= 1;
	w->top = c;
}
