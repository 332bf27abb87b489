/* SPDX-License-Identifier: MIT */
/*
 * For the fuzz targets whose input carries a bundle of protocol messages (a frame's UDP
 * payload, a relay envelope's bundle): walk it as a worker does, checking the codec's promise
 * for each message (a known result, and a consumed length that moves the walk on inside the
 * bundle). Header-only.
 */
#ifndef RC_FUZZ_BUNDLE_H
#define RC_FUZZ_BUNDLE_H

#include <errno.h>

#include "fuzz.h"
#include "proto.h"

static inline void
fuzz_decode_bundle(const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct rc_msg m;
		size_t consumed = 0;
		int rc = rc_decode(p + off, len - off, &m, &consumed);

		CHECK(consumed > 0 && consumed <= len - off);
		CHECK(rc == 0 || rc == -EPROTO || rc == -EBADMSG || rc == -ENOMSG ||
		      rc == -EMSGSIZE || rc == -EILSEQ);
		off += consumed;
	}
}

#endif /* RC_FUZZ_BUNDLE_H */
