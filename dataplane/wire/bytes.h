/* SPDX-License-Identifier: MIT */
/*
 * Big-endian (network order) integers in byte buffers, header-only, for every encoder and
 * decoder of the project: the wire codec, WAL records, replication frames, heartbeats,
 * tokens. No alignment is assumed; nothing is checked (the caller has checked the length).
 */
#ifndef RC_BYTES_H
#define RC_BYTES_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * The n (1..8) bytes at p as an unsigned big-endian integer. The codec passes n from its
 * field table, so the common widths are a load and a byte swap rather than a loop.
 */
static inline uint64_t
rc_get_be(const uint8_t *p, size_t n)
{
	uint16_t v16;
	uint32_t v32;
	uint64_t v = 0;

	switch (n) {
	case 2:
		memcpy(&v16, p, 2);
		return be16toh(v16);
	case 4:
		memcpy(&v32, p, 4);
		return be32toh(v32);
	case 8:
		memcpy(&v, p, 8);
		return be64toh(v);
	}
	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* v's low n (1..8) bytes at p, big-endian. */
static inline void
rc_put_be(uint8_t *p, size_t n, uint64_t v)
{
	uint16_t v16 = htobe16((uint16_t)v);
	uint32_t v32 = htobe32((uint32_t)v);
	uint64_t v64 = htobe64(v);

	switch (n) {
	case 2:
		memcpy(p, &v16, 2);
		return;
	case 4:
		memcpy(p, &v32, 4);
		return;
	case 8:
		memcpy(p, &v64, 8);
		return;
	}
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
