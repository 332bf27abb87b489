/* SPDX-License-Identifier: MIT */
/*
 * dataplane/wire/utf8.c: rc_utf8_valid, which skips printable ASCII 8 bytes at a time,
 * against rc_utf8_valid_bytes, the byte-by-byte reading, on generated inputs: random bytes
 * of every length 0..64 (drawn so that valid text, bad sequences and control characters all
 * come up), printable ASCII with one other byte or character at every offset of every
 * length from every alignment, with and without line breaks allowed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

#define MAX_LEN 64
#define ALIGNS 8

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static unsigned checked, valid_seen, invalid_seen;

static void
same_verdict(const uint8_t *p, size_t len)
{
	for (int nl = 0; nl < 2; nl++) {
		bool fast = rc_utf8_valid((const char *)p, len, nl != 0);
		bool ref = rc_utf8_valid_bytes((const char *)p, len, nl != 0);

		if (fast != ref) {
			char hex[3 * MAX_LEN + 1] = "";

			for (size_t i = 0; i < len && i < MAX_LEN; i++)
				snprintf(hex + 3 * i, 4, "%02x ", p[i]);
			fail_msg("len %zu newlines %d: word-wise %d, byte-wise %d: %s", len, nl,
				 fast, ref, hex);
		}
		checked++;
		if (ref)
			valid_seen++;
		else
			invalid_seen++;
	}
}

/* Pieces random text is made of: mostly printable ASCII, then what the rules look at. */
static const char *const pieces[] = {
	"a", "Z", " ", "~", "\x7f", "\t", "\n", "\r", "\0", "\x01", "\x1f",
	"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
	"\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xf0\x8f\xbf\xbf", "\xed\xa0\x80",
	"\xf4\x90\x80\x80", "\xf5", "\xff", "\x80", "\xbf", "\xc2", "\xe2\x82", "\xf0\x9f\x98",
};

/* Random text of len bytes: 1 in 10 any byte, 6 in 10 a letter, else one of the pieces
 * (cut at the end). */
static void
random_text(uint8_t *p, size_t len)
{
	size_t n = 0, k;

	while (n < len) {
		unsigned r = rnd() % 10;
		const char *s = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];

		if (r == 0) {
			p[n++] = (uint8_t)rnd();
			continue;
		}
		if (r < 7) {
			p[n++] = (uint8_t)('a' + rnd() % 26);
			continue;
		}
		k = s[0] == '\0' ? 1 : strlen(s);
		if (k > len - n)
			k = len - n;
		memcpy(p + n, s, k);
		n += k;
	}
}

static void
test_random(void **state)
{
	_Alignas(8) uint8_t buf[MAX_LEN + ALIGNS];

	(void)state;
	for (size_t len = 0; len <= MAX_LEN; len++)
		for (unsigned round = 0; round < 2000; round++) {
			uint8_t *p = buf + round % ALIGNS;

			if (round % 4 == 0)
				for (size_t i = 0; i < len; i++)
					p[i] = (uint8_t)rnd();
			else
				random_text(p, len);
			same_verdict(p, len);
		}
	assert_true(valid_seen > 1000 && invalid_seen > 1000);
}

/* Printable ASCII of length len at every alignment, with piece s written at every offset
 * (cut at the end); expect: the verdict when s is whole (-1: not known), checked too. */
static void
one_piece_everywhere(const char *s, size_t slen, int expect_nl, int expect)
{
	_Alignas(8) uint8_t buf[MAX_LEN + ALIGNS];

	for (unsigned a = 0; a < ALIGNS; a++)
		for (size_t len = 1; len <= MAX_LEN; len++)
			for (size_t at = 0; at < len; at++) {
				uint8_t *p = buf + a;
				size_t k = slen < len - at ? slen : len - at;

				memset(p, 'x', len);
				memcpy(p + at, s, k);
				same_verdict(p, len);
				if (k < slen || expect < 0)
					continue;
				assert_int_equal(rc_utf8_valid((const char *)p, len, false), expect);
				assert_int_equal(rc_utf8_valid((const char *)p, len, true), expect_nl);
			}
}

static void
test_one_bad_byte(void **state)
{
	(void)state;
	for (unsigned b = 0; b < 256; b++) {
		uint8_t c = (uint8_t)b;
		bool printable = c >= 0x20 && c < 0x80;
		bool line = c == '\t' || c == '\n' || c == '\r';

		one_piece_everywhere((const char *)&c, 1, printable || line, printable);
	}
}

static void
test_one_sequence(void **state)
{
	static const struct {
		const char *s;
		int ok;
	} seqs[] = {
		{ "\xc2\x80", 1 },         { "\xdf\xbf", 1 },         { "\xe0\xa0\x80", 1 },
		{ "\xef\xbf\xbf", 1 },     { "\xed\x9f\xbf", 1 },     { "\xf0\x90\x80\x80", 1 },
		{ "\xf4\x8f\xbf\xbf", 1 }, { "\xc0\x80", 0 },         { "\xc1\xbf", 0 },
		{ "\xe0\x9f\xbf", 0 },     { "\xed\xa0\x80", 0 },     { "\xed\xbf\xbf", 0 },
		{ "\xf0\x8f\xbf\xbf", 0 }, { "\xf4\x90\x80\x80", 0 }, { "\xf5\x80\x80\x80", 0 },
		{ "\xe2\x82x", 0 },        { "\xf0\x9f\x98\x41", 0 }, { "\xc3\xc3", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		one_piece_everywhere(seqs[i].s, strlen(seqs[i].s), seqs[i].ok, seqs[i].ok);
}

/* Lengths 0..64 of printable ASCII, of text with line breaks, and of valid multi-byte text. */
static void
test_every_length(void **state)
{
	_Alignas(8) uint8_t buf[MAX_LEN + ALIGNS];
	static const char euro[] = "\xe2\x82\xac";

	(void)state;
	for (unsigned a = 0; a < ALIGNS; a++)
		for (size_t len = 0; len <= MAX_LEN; len++) {
			uint8_t *p = buf + a;

			memset(p, '~', len);
			assert_true(rc_utf8_valid((const char *)p, len, false));
			for (size_t i = 0; i < len; i++)
				p[i] = i % 9 == 8 ? '\n' : ' ';
			same_verdict(p, len);
			for (size_t i = 0; i < len; i++)
				p[i] = (uint8_t)euro[i % 3];
			same_verdict(p, len);
			assert_int_equal(rc_utf8_valid((const char *)p, len, false), len % 3 == 0);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_one_bad_byte),
		cmocka_unit_test(test_one_sequence),
		cmocka_unit_test(test_every_length),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	printf("utf8: %u verdicts compared\n", checked);
	return rc;
}
