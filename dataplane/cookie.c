/* SPDX-License-Identifier: MIT */
#include "cookie.h"

#include <string.h>

#include <sodium.h>

/* The keys brought to the slot of now_ms: a key older than the slot before is replaced. */
static void
rotate(struct rc_cookie_keys *k, uint64_t now_ms)
{
	uint64_t slot = now_ms / RC_COOKIE_SLOT_MS;

	if (slot == k->slot)
		return;
	if (k->slot == 0 && sodium_init() < 0) /* the first use; then a no-op */
		return;
	randombytes_buf(k->key[slot & 1], sizeof(k->key[0]));
	if (slot != k->slot + 1) /* more than a slot went by: the other is stale too */
		randombytes_buf(k->key[!(slot & 1)], sizeof(k->key[0]));
	k->slot = slot;
}

static uint64_t
mac_of(const uint8_t *key, uint32_t ip, uint16_t port, uint32_t slot)
{
	uint8_t in[10], out[crypto_shorthash_siphash24_BYTES];
	uint64_t mac;

	memcpy(in, &ip, 4);
	memcpy(in + 4, &port, 2);
	memcpy(in + 6, &slot, 4);
	crypto_shorthash_siphash24(out, in, sizeof(in), key);
	memcpy(&mac, out, sizeof(mac));
	return mac;
}

void
rc_cookie_make(struct rc_cookie_keys *k, uint64_t now_ms, uint32_t ip, uint16_t port,
	       uint32_t *slot, uint64_t *mac)
{
	rotate(k, now_ms);
	*slot = (uint32_t)k->slot;
	*mac = mac_of(k->key[k->slot & 1], ip, port, *slot);
}

bool
rc_cookie_ok(struct rc_cookie_keys *k, uint64_t now_ms, uint32_t ip, uint16_t port,
	     uint32_t slot, uint64_t mac)
{
	uint32_t now_slot;

	rotate(k, now_ms);
	now_slot = (uint32_t)k->slot;
	if (slot != now_slot && slot != now_slot - 1)
		return false;
	return sodium_memcmp(&(uint64_t){ mac_of(k->key[slot & 1], ip, port, slot) }, &mac,
			     sizeof(mac)) == 0;
}
