/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the relay envelope (dataplane/wire/relay_wire.c) and what it carries: the
 * datagrams one node sends another (PROTOCOL.md 13).
 *
 * Input: one control byte, then the envelope. Bit 0 of the control byte: the harness
 * rewrites the tag to the right one for the pair key first, so that the fuzzer gets past it
 * into the bundle. Bit 1: the rest of the input is also read as a sequence of counters fed
 * to a replay window, against a model (a plain set of the counters accepted).
 *
 * Checked: a parsed envelope's views lie inside the datagram and re-encode to its header;
 * the one-shot and keyed tags agree, and a right tag is accepted, a wrong one refused; the
 * window refuses exactly what the model says is a replay or too old; every message of an
 * authentic bundle decodes (or fails) as the codec promises.
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/relay/). Single-threaded.
 */
#include <errno.h>
#include <string.h>

#include "bundle.h"
#include "bytes.h"
#include "fuzz.h"
#include "hmac.h"
#include "proto.h"
#include "relay_wire.h"

static uint8_t pair_key[RC_RELAY_KEY_LEN];
static struct rc_hmac_keyed *keyed;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	rc_relay_pair_key("fuzz secret", 11, "node-a", "node-b", pair_key);
	keyed = rc_hmac_keyed_new(pair_key, sizeof(pair_key));
	CHECK(keyed != NULL);
	return 0;
}

static void
check_header(const uint8_t *buf, size_t len, const struct rc_relay_env *e)
{
	uint8_t hdr[RC_RELAY_FIXED_LEN + 1 + 255];
	ssize_t n;

	CHECK((const uint8_t *)e->sender == buf + RC_RELAY_FIXED_LEN + 1);
	CHECK(e->bundle == buf + rc_relay_hdr_len(e->sender_len));
	CHECK(e->bundle + e->bundle_len == e->tag && e->tag + RC_RELAY_TAG_LEN == buf + len);
	n = rc_relay_put_hdr(hdr, sizeof(hdr), e->key_id, e->counter, e->sender, e->sender_len);
	if (e->sender_len > RC_RELAY_MAX_SENDER) {
		CHECK(n == -EMSGSIZE);
		return;
	}
	CHECK(n == (ssize_t)rc_relay_hdr_len(e->sender_len) && memcmp(hdr, buf, (size_t)n) == 0);
}

/* Whether the tag is right, after checking both ways of computing it agree. */
static bool
tag_right(const uint8_t *buf, size_t len)
{
	uint8_t t1[RC_RELAY_TAG_LEN], t2[RC_RELAY_TAG_LEN];
	const uint8_t *tag = buf + len - RC_RELAY_TAG_LEN;

	CHECK(rc_relay_tag(pair_key, buf, len - RC_RELAY_TAG_LEN, t1) == 0);
	CHECK(rc_relay_tag_keyed(keyed, buf, len - RC_RELAY_TAG_LEN, t2) == 0);
	CHECK(memcmp(t1, t2, sizeof(t1)) == 0);
	CHECK(rc_relay_tag_equal(t1, tag) == (memcmp(t1, tag, sizeof(t1)) == 0));
	return rc_relay_tag_equal(t1, tag);
}

/* The window against a model: the set of counters accepted so far (at most 256). */
static void
window_model(const uint8_t *p, size_t len)
{
	struct rc_relay_window w = { 0 };
	uint64_t seen[256], top = 0;
	size_t n_seen = 0;

	for (size_t off = 0; off + 8 <= len && n_seen < 256; off += 8) {
		/* mostly small steps around the top, sometimes far jumps */
		uint64_t c = p[off] & 0x80 ? rc_get_be64(p + off) : top + (int8_t)p[off + 1];
		bool replay = false, fresh;

		for (size_t i = 0; i < n_seen; i++)
			replay |= seen[i] == c;
		fresh = rc_relay_window_fresh(&w, c);
		CHECK(fresh == (c != 0 && !replay && (c > top || top - c < RC_RELAY_WINDOW)));
		if (fresh) {
			rc_relay_window_accept(&w, c);
			seen[n_seen++] = c;
			top = c > top ? c : top;
		}
		CHECK(w.top == top);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_relay_env e;
	uint8_t *buf;
	size_t len;
	int rc;

	if (size < 1 || size - 1 > UINT16_MAX)
		return 0;
	len = size - 1;
	buf = fuzz_copy(data + 1, len);
	if ((data[0] & 2) != 0)
		window_model(buf, len);
	if ((data[0] & 1) != 0 && len >= RC_RELAY_TAG_LEN)
		CHECK(rc_relay_tag(pair_key, buf, len - RC_RELAY_TAG_LEN,
				   buf + len - RC_RELAY_TAG_LEN) == 0);
	rc = rc_relay_get(buf, len, &e);
	CHECK(rc == 0 || rc == -EPROTO || rc == -EBADMSG);
	if (rc == 0) {
		check_header(buf, len, &e);
		if (tag_right(buf, len))
			fuzz_decode_bundle(e.bundle, e.bundle_len);
		else
			CHECK((data[0] & 1) == 0);
	}
	free(buf);
	return 0;
}
