/* SPDX-License-Identifier: MIT */
/*
 * The codec's UTF-8 check (dataplane/wire/utf8.c) on a 200-byte chat body: ns per body for
 * rc_utf8_valid (printable ASCII skipped 8 bytes at a time) and rc_utf8_valid_bytes (the
 * byte-by-byte reading it replaced), on ASCII text, on text with line breaks, and on text
 * with a 2-byte character every 20 bytes, and on Cyrillic text (2-byte characters only). Median of 5 runs of about 0.2 s each.
 * `bench_utf8 [-n BODIES]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "proto.h"

#define BODY 200
#define RUNS 5

typedef bool (*check_fn)(const char *, size_t, bool);

static volatile unsigned sink;

static double
run_once(check_fn f, const char *body, unsigned n)
{
	uint64_t t0 = rc_mono_ns();
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++) {
		__asm__ volatile("" ::: "memory"); /* one check per round, not hoisted */
		ok += f(body, BODY, true);
	}
	sink = ok;
	return (double)(rc_mono_ns() - t0) / n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median_ns(check_fn f, const char *body, unsigned n)
{
	double t[RUNS];

	for (unsigned r = 0; r < RUNS; r++)
		t[r] = run_once(f, body, n);
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

static void
make_body(char *b, unsigned kind)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog, 0123456789. ";

	for (unsigned i = 0; i < BODY; i++)
		b[i] = text[i % (sizeof(text) - 1)];
	for (unsigned i = 0; kind == 3 && i + 1 < BODY; i += 2) {
		b[i] = (char)0xD0; /* U+0410.. (Cyrillic), 2 bytes each */
		b[i + 1] = (char)(0x90 + i % 32);
	}
	for (unsigned i = 19; kind != 0 && i < BODY; i += 20) {
		if (kind == 1) {
			b[i] = '\n';
		} else if (kind == 3) {
			continue;
		} else {
			b[i - 1] = (char)0xC3; /* U+00E9 */
			b[i] = (char)0xA9;
		}
	}
}

int
main(int argc, char **argv)
{
	static const char *const kinds[] = { "ascii", "ascii_newlines", "latin1_every_20", "cyrillic" };
	unsigned n = 1000000;
	char body[BODY];
	int opt;

	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		if (opt != 'n') {
			fprintf(stderr, "usage: bench_utf8 [-n BODIES]\n");
			return opt == 'h' ? 0 : 2;
		}
		n = (unsigned)strtoul(optarg, NULL, 10);
	}
	printf("%-16s %12s %12s %8s\n", "body (200 B)", "bytes ns", "words ns", "speedup");
	for (unsigned k = 0; k < 4; k++) {
		double slow, fast;

		make_body(body, k);
		if (!rc_utf8_valid(body, BODY, true) || !rc_utf8_valid_bytes(body, BODY, true))
			return 1;
		slow = median_ns(rc_utf8_valid_bytes, body, n);
		fast = median_ns(rc_utf8_valid, body, n);
		printf("%-16s %12.1f %12.1f %8.2f\n", kinds[k], slow, fast, slow / fast);
	}
	return 0;
}
