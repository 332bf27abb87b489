/* SPDX-License-Identifier: MIT */
/*
 * UTF-8 validation of the codec's text fields (proto.h: rc_utf8_valid): well-formed UTF-8
 * (no overlong form, no surrogate, nothing above U+10FFFF, no truncated sequence), no NUL
 * and no C0 control character but TAB, LF and CR where a field allows line breaks.
 *
 * Chat text is mostly printable ASCII, and every body is checked on the way in (the node,
 * each POST) and on the way out (a client, each DELIVER): the check reads 8 bytes at a time
 * and skips a word whose bytes are all within 0x20..0x7F (printable ASCII and DEL); in any
 * other word the first byte outside that range starts a character read by the exact rules,
 * byte by byte, and so do the bytes >= 0x80 right after it; then words again. Every byte is
 * either inside a skipped word (printable ASCII: valid everywhere) or read by the exact
 * rules from a character boundary, so the two readings agree (utf8_test compares them on
 * every length, offset and alignment).
 *
 * Pure C, reentrant; words are read with memcpy (any alignment, any byte order: the test
 * looks at each byte of the word alike).
 */
#include <string.h>

#include "proto.h"

#define ONES 0x0101010101010101ull
#define HIGH (ONES * 0x80u)
#define SPACE (ONES * 0x20u)

/* Length of the sequence led by c, and the bounds of its second byte; 0 if c cannot lead. */
static unsigned
utf8_lead(uint8_t c, uint8_t *lo, uint8_t *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF) {
		if (c == 0xE0)
			*lo = 0xA0; /* no overlongs */
		if (c == 0xED)
			*hi = 0x9F; /* no surrogates U+D800..U+DFFF */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (c == 0xF0)
			*lo = 0x90; /* no overlongs */
		if (c == 0xF4)
			*hi = 0x8F; /* nothing above U+10FFFF */
		return 4;
	}
	return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
}

static bool
ascii_ok(uint8_t c, bool allow_newlines)
{
	if (c >= 0x20)
		return true; /* includes DEL (0x7F): it is not a C0 control */
	return allow_newlines && (c == '\t' || c == '\n' || c == '\r');
}

/* Bytes of the valid character at p[0..left) (left > 0), or 0 if it is not one. */
static unsigned
utf8_char(const uint8_t *p, size_t left, bool allow_newlines)
{
	uint8_t lo, hi;
	unsigned n;

	if (p[0] < 0x80)
		return ascii_ok(p[0], allow_newlines) ? 1 : 0;
	n = utf8_lead(p[0], &lo, &hi);
	if (n == 0 || left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (unsigned k = 2; k < n; k++)
		if ((p[k] & 0xC0) != 0x80)
			return 0;
	return n;
}

bool
rc_utf8_valid_bytes(const char *s, size_t len, bool allow_newlines)
{
	const uint8_t *p = (const uint8_t *)s;
	unsigned n;

	for (size_t i = 0; i < len; i += n) {
		n = utf8_char(p + i, len - i, allow_newlines);
		if (n == 0)
			return false;
	}
	return true;
}

/*
 * Whether the 8 bytes at p are all within 0x20..0x7F. A byte >= 0x80 sets its top bit in w;
 * a byte below 0x20 sets it in w - SPACE: the lowest such byte borrows from nothing below
 * it (those bytes are >= 0x20) and wraps to 0xE0..0xFF. Bytes within the range leave both
 * clear (x - 0x20 <= 0x5F, no borrow).
 */
static inline bool
word_printable(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return ((w | (w - SPACE)) & HIGH) == 0;
}

static inline bool
printable(uint8_t c)
{
	return c >= 0x20 && c < 0x80;
}

bool
rc_utf8_valid(const char *s, size_t len, bool allow_newlines)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, end;
	unsigned n;

	while (i < len) {
		while (len - i >= 8 && word_printable(p + i))
			i += 8;
		/* in the word that is not all printable ASCII (or the tail): up to its first
		 * other byte, then character by character while bytes >= 0x80 follow (text in
		 * another script), then words again */
		end = len - i < 8 ? len : i + 8;
		while (i < end && printable(p[i]))
			i++;
		if (i == len)
			break;
		do {
			n = utf8_char(p + i, len - i, allow_newlines);
			if (n == 0)
				return false;
			i += n;
		} while (i < len && p[i] >= 0x80);
	}
	return true;
}
