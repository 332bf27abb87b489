/* SPDX-License-Identifier: MIT */
/* The generated POST body; see gen_body.h. */
#include <string.h>

#include "gen_body.h"

static const char hexd[] = "0123456789abcdef";

static void
put_hex(char *p, uint64_t v, unsigned digits)
{
	while (digits-- > 0) {
		p[digits] = hexd[v & 0xf];
		v >>= 4;
	}
}

static bool
get_hex(const char *p, unsigned digits, uint64_t *out)
{
	uint64_t v = 0;
	unsigned i, d;

	for (i = 0; i < digits; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = (unsigned)(p[i] - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

void
rg_body_init(char *b, size_t len, uint32_t run)
{
	memset(b, '.', len);
	memcpy(b, "rg1 ", 4);
	put_hex(b + 4, run, 8);
	b[12] = ' ';
	rg_body_stamp(b, 0, 0);
	b[29] = ' ';
	if (len > RG_BODY_MIN)
		b[RG_BODY_MIN] = ' ';
}

void
rg_body_stamp(char *b, uint64_t ts, uint64_t idx)
{
	put_hex(b + RG_BODY_TS_OFF, ts, 16);
	put_hex(b + RG_BODY_IDX_OFF, idx, 16);
}

bool
rg_body_parse(const char *b, size_t len, uint32_t run, uint64_t *ts, uint64_t *idx)
{
	uint64_t r;

	if (len < RG_BODY_MIN || memcmp(b, "rg1 ", 4) != 0 || b[12] != ' ' || b[29] != ' ')
		return false;
	if (!get_hex(b + 4, 8, &r) || r != run)
		return false;
	return get_hex(b + RG_BODY_TS_OFF, 16, ts) && get_hex(b + RG_BODY_IDX_OFF, 16, idx);
}
