/* SPDX-License-Identifier: MIT */
/*
 * Big-endian (network order) integers in byte buffers, header-only, for every encoder and
 * decoder of the project: the wire codec, WAL records, replication frames, heartbeats,
 * tokens. No alignment is assumed; nothing is checked (the caller has checked the length).
 */
#ifndef RC_BYTES_H
#define RC_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* The n (1..8) bytes at p as an unsigned big-endian integer. */
static inline uint64_t
rc_get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* v's low n (1..8) bytes at p, big-endian. */
static inline void
rc_put_be(uint8_t *p, size_t n, uint64_t v)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint16_t rc_get_be16(const uint8_t *p) { return (uint16_t)rc_get_be(p, 2); }
static inline uint32_t rc_get_be32(const uint8_t *p) { return (uint32_t)rc_get_be(p, 4); }
static inline uint64_t rc_get_be64(const uint8_t *p) { return rc_get_be(p, 8); }
static inline void rc_put_be16(uint8_t *p, uint16_t v) { rc_put_be(p, 2, v); }
static inline void rc_put_be32(uint8_t *p, uint32_t v) { rc_put_be(p, 4, v); }
static inline void rc_put_be64(uint8_t *p, uint64_t v) { rc_put_be(p, 8, v); }

#endif /* RC_BYTES_H */
