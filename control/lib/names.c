/* SPDX-License-Identifier: MIT */
/* Name tables and "did you mean" (see names.h). */
#include "names.h"

#include <string.h>

const char *
rc_name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : NULL;
}

int
rc_name_parse(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s != NULL && i < n; i++) {
		const char *a = names[i], *b = s;

		if (a == NULL)
			continue;
		while (*a && (*a == *b || (*a == '-' && *b == '_')))
			a++, b++;
		if (*a == '\0' && *b == '\0')
			return (int)i;
	}
	return -1;
}

/* Levenshtein distance of short strings (99 when either is 63 bytes or more). */
static unsigned
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *
rc_nearest(const char *name, const void *first, size_t n, size_t stride, size_t skip)
{
	const char *best = NULL;
	unsigned best_d = 3;

	for (size_t i = 0; i < n; i++) {
		const char *c = *(const char *const *)((const char *)first + i * stride) + skip;
		unsigned d = edit_distance(name, c);

		if (d < best_d) {
			best_d = d;
			best = c;
		}
	}
	return best;
}
