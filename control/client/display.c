/* SPDX-License-Identifier: MIT */
#include "display.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the UTF-8 sequence at s (1..4) and its code point, or 0 when it is not valid. */
static unsigned
utf8_next(const unsigned char *s, uint32_t *cp)
{
	unsigned n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, *cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, *cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, *cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && *cp < 0x800) || (n == 4 && (*cp < 0x10000 || *cp > 0x10ffff)) ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* Whether a terminal would act on cp rather than show it. */
static int
unsafe(uint32_t cp, int multiline)
{
	if (cp == '\n' || cp == '\t')
		return !multiline;
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x2028 || cp == 0x2029;
}

/* Append n bytes of p to out if they fit whole (one NUL kept free). */
static int
put(char *out, size_t cap, size_t *at, const char *p, size_t n)
{
	if (*at + n + 1 > cap)
		return -1;
	memcpy(out + *at, p, n);
	*at += n;
	return 0;
}

unsigned
rc_display_escape(const char *s, int multiline, char *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned escaped = 0, n;
	size_t at = 0;
	char esc[16];
	uint32_t cp;
	int rc;

	if (cap == 0)
		return 0;
	for (; *u; u += n) {
		n = utf8_next(u, &cp);
		if (n == 0) {
			n = 1;
			escaped++;
			rc = put(out, cap, &at, esc, (size_t)snprintf(esc, sizeof(esc), "<%02X>", *u));
		} else if (unsafe(cp, multiline)) {
			escaped++;
			rc = put(out, cap, &at, esc,
				 (size_t)snprintf(esc, sizeof(esc), "<U+%04X>", (unsigned)cp));
		} else if (cp == '\n') {
			rc = put(out, cap, &at, "\n" RC_DISPLAY_INDENT, 1 + strlen(RC_DISPLAY_INDENT));
		} else {
			rc = put(out, cap, &at, (const char *)u, n);
		}
		if (rc < 0)
			break;
	}
	out[at] = '\0';
	return escaped;
}
