/* SPDX-License-Identifier: MIT */
/* printf into a growable or bounded text buffer (see text.h). */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct rc_text
rc_text_fixed(char *buf, size_t cap)
{
	if (cap > 0)
		buf[0] = '\0';
	return (struct rc_text){ .buf = buf, .cap = cap, .fixed = true };
}

/* Room for more bytes and a NUL after len, or false (the piece is dropped). */
static bool
grow(struct rc_text *t, size_t more)
{
	size_t cap = t->cap ? t->cap : 256;
	char *buf;

	if (t->len + more + 1 <= t->cap)
		return true;
	while (cap < t->len + more + 1)
		cap *= 2;
	buf = realloc(t->buf, cap);
	if (buf == NULL)
		return false;
	t->buf = buf;
	t->cap = cap;
	return true;
}

/* The bounded kind: as much as fits, and the whole length counted. */
static void
fixed_vprintf(struct rc_text *t, const char *fmt, va_list ap)
{
	bool room = t->len < t->cap;
	int n = vsnprintf(room ? t->buf + t->len : NULL, room ? t->cap - t->len : 0, fmt, ap);

	if (n > 0)
		t->len += (size_t)n;
}

void
rc_text_printf(struct rc_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (t->fixed) {
		fixed_vprintf(t, fmt, ap);
		va_end(ap);
		return;
	}
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !grow(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}
