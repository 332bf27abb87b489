/* SPDX-License-Identifier: MIT */
/*
 * LOGIN cookies: a stateless proof that a LOGIN's source address receives what is sent to
 * it (the idea of WireGuard's cookie reply and QUIC's Retry). Under a LOGIN flood the
 * worker answers a LOGIN with COOKIE(slot, mac), mac = SipHash-2-4(key, source address,
 * source port, slot); only a LOGIN_COOKIE carrying a valid one goes on to the control
 * thread, so a flood from spoofed addresses costs no token MAC there (login.h).
 *
 * Each worker has its own keys, drawn at random and replaced as time goes on: a slot lasts
 * RC_COOKIE_SLOT_MS, a cookie is valid in its slot and the next one, then its key is gone.
 * A client's datagrams all reach the same worker (RSS hashes its address and port), so the
 * worker that made a cookie is the one that checks it.
 *
 * Concurrency: one worker's keys, used by that worker only.
 */
#ifndef RC_COOKIE_H
#define RC_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#define RC_COOKIE_SLOT_MS 16000
/* COOKIEs a worker sends a second at most (its burst too): beyond it a LOGIN without a cookie
 * is dropped unanswered, so that a spoofed flood is neither reflected in full nor lets the
 * replies crowd out the worker's own receiving; a genuine client's retransmission gets a
 * COOKIE later. */
#define RC_COOKIE_RATE 5000

struct rc_cookie_keys {
	uint64_t slot;       /* the slot of key[slot & 1]; key[!(slot & 1)] is the one before */
	uint8_t key[2][16];
};

/* The cookie for source ip:port (network order) at now_ms. */
void rc_cookie_make(struct rc_cookie_keys *k, uint64_t now_ms, uint32_t ip, uint16_t port,
		    uint32_t *slot, uint64_t *mac);

/* Whether (slot, mac) is a cookie this worker gave ip:port in this slot or the last one. */
bool rc_cookie_ok(struct rc_cookie_keys *k, uint64_t now_ms, uint32_t ip, uint16_t port,
		  uint32_t slot, uint64_t mac);

#endif /* RC_COOKIE_H */
